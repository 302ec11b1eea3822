#SBATCH --ntasks=1
#ENV pip numpy
python -c 'import numpy'
