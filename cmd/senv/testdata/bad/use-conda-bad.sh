#!/bin/bash
#ENV use conda:
python train.py
