#!/bin/bash
#ENV uv
#ENV pip numpy
python train.py
