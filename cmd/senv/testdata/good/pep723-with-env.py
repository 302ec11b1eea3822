#!/usr/bin/env python3
#SBATCH --ntasks=1
#ENV python 3.12
#ENV pip requests
#ENV module cuda/12.1
# /// script
# requires-python = ">=3.11"
# dependencies = ["numpy"]
# ///
import numpy
