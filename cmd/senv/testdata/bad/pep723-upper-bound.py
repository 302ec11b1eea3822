#!/usr/bin/env python3
# /// script
# requires-python = "<3.13"
# ///
import sys
