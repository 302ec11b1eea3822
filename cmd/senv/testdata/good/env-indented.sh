#!/bin/bash
#SBATCH --ntasks=1
  #ENV pip scipy
	#ENV pip pandas
#ENVpip polars
#ENV pip numpy
python -c 'import numpy'
