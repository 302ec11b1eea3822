#!/bin/bash
#SBATCH --job-name=mix
#ENV module cuda/12.1
#SBATCH --gres=gpu:1
# a plain comment
#ENV pip torch
#SBATCH   --time=02:00:00
#ENV setenv OMP_NUM_THREADS=4
#SBATCH	--mem=8G
srun python train.py
#SBATCH --ignored=after-payload
