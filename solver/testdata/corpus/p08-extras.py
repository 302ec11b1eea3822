"""Fetch a page through a SOCKS proxy."""
# /// script
# dependencies = ["requests[socks]>=2.31"]
# ///
