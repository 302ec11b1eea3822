#!/usr/bin/env python3
# /// script
# dependencies = [
#   "numpy"
# ///
import numpy
