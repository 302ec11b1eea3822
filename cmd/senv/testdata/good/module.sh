#!/bin/bash
#SBATCH --job-name=modules
#ENV module gcc/12.2.0 openmpi/4.1.5
#ENV module cuda/12.1 py-torch/2.3+cuda intel@2024:mpi
srun ./solver
