#!/bin/bash
#ENV python 3.11
#ENV pip numpy
#ENV python 3.12
python train.py
