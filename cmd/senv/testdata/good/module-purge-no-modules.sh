#!/bin/bash
#SBATCH --job-name=purge-no-modules
#ENV pip numpy
# senv loads no module here, so a purge undoes nothing of its own
module purge
python -c 'import numpy'
