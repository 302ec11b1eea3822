#!/bin/bash
#ENV use conda:base-ml
python train.py
