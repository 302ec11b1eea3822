#!/bin/bash
#SBATCH --job-name=plain
#SBATCH --time=1:00:00

# no #ENV lines: senv render leaves this script unchanged
module load python/3.11
python train.py
