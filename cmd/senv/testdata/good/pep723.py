#!/usr/bin/env python3
# /// script
# requires-python = ">=3.11"
# dependencies = [
#   "numpy>=1.26",
#   "rich",
# ]
# ///
import numpy
import rich

rich.print(numpy.arange(3))
