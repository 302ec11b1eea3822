#!/bin/bash
#ENV python 3.11
#ENV pip numpy
python train.py
