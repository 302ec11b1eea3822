#!/bin/bash
#ENV setenv OMP_NUM_THREADS
python train.py
