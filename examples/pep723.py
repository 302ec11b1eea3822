#!/usr/bin/env python3
# A Python payload with PEP 723 inline metadata: `senv run examples/pep723.py`
# reads requires-python and dependencies from the block below.
# /// script
# requires-python = ">=3.11"
# dependencies = ["six>=1.16"]
# ///
import sys

import six

print("six", six.__version__, "python", sys.version.split()[0])
