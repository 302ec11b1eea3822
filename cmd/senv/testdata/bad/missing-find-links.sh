#!/bin/bash
#ENV find-links https://example.org/wheels wheelhouse
python train.py
