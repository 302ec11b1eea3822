#!/bin/bash
#ENV use envs/myvenv
#ENV setenv OMP_NUM_THREADS=8
python train.py
