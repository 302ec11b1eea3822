#!/bin/bash
#ENV conda numpy
#ENV solver mamba
python train.py
