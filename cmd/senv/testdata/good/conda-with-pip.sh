#!/bin/bash
#ENV conda numpy
#ENV pip rich
python train.py
