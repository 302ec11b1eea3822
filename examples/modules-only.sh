#!/bin/bash
# No Python env at all: senv initialises the module system (missing in
# batch shells), loads the modules, and sets variables.
#SBATCH --ntasks=2 --time=00:10:00
#ENV module gcc/12 cuda/12.1
#ENV setenv OMP_NUM_THREADS=1
srun hostname
