#!/bin/bash
#ENV conda --override-channels numpy
python train.py
