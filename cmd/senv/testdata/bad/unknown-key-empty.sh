#!/bin/bash
#ENV "" numpy
python train.py
