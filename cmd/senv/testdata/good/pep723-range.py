#!/usr/bin/env python3
"""A PEP 723 block after the docstring is still read."""
# /// script
# requires-python = ">=3.10,<3.13"
# dependencies = ["pandas; python_version >= '3.10'"]
# ///
import pandas
