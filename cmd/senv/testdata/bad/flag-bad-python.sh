#!/bin/bash
#ENV pip numpy
python train.py
