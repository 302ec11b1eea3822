#!/usr/bin/env python3
# /// script
# dependencies = ["-e .", "numpy"]
# ///
import numpy
