#!/usr/bin/env python3
# no #ENV lines and no PEP 723 block: rendered unchanged
print("hello")
