#!/bin/bash
#ENV conda numpy -c
python train.py
