#!/bin/bash
#SBATCH --ntasks=1
echo "starting"
#ENV pip numpy
python -c 'import numpy'
