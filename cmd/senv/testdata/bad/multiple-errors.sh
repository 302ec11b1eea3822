#!/bin/bash
#ENV pyhton 3.11
#ENV pip
#ENV stage locl
#ENV setenv 1A=b
python train.py
#ENV pip numpy
