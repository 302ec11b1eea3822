#!/bin/bash
#SBATCH --ntasks=1
#ENV pyhton 3.11
python train.py
