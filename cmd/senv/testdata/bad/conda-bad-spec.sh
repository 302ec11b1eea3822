#!/bin/bash
#ENV conda 'numpy;id'
python train.py
