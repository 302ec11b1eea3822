#!/bin/bash
#SBATCH --gres=gpu:1
#ENV module cuda/12.1
#ENV python 3.11
#ENV pip torch==2.3.* numpy
#ENV requirements requirements.txt
python train.py
