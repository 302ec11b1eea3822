#!/bin/bash
# Keep using an env you already have: senv loads the modules and activates
# it in the batch shell (where `conda activate` usually fails).
#SBATCH --time=00:30:00
#ENV module gcc/12
#ENV use conda:analysis
#ENV setenv OMP_NUM_THREADS=4
python analyse.py
