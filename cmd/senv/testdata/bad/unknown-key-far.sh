#!/bin/bash
#ENV frobnicate numpy
python train.py
