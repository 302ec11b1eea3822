#!/bin/bash
#ENV conda -c conda-forge
python train.py
