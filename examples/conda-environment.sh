#!/bin/bash
# An environment.yml with a pip: section and variables:, solved once into a
# lock (conda packages as an @EXPLICIT list, pip packages with hashes), built
# once on node-local scratch, staged onto every node of the job.
#SBATCH -N2 --ntasks-per-node=1 --time=01:00:00
#ENV file environment.yml
srun python -c 'import numpy, os; print(numpy.__version__, os.environ["OMP_NUM_THREADS"])'
