#!/bin/bash
#ENV setenv   # nothing to set
python train.py
