#!/usr/bin/env -S uv run --script
# /// script
# dependencies = ["click"]
# ///
import click
