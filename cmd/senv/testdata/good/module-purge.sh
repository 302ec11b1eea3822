#!/bin/bash
#SBATCH --job-name=purge
#SBATCH --ntasks=1
#ENV module gcc/12.2.0 openmpi/4.1.5
#ENV pip numpy
module purge
module --force purge
ml purge
module restore mycollection
set -e; ml -q reset && echo reset
if true; then module purge; fi
# module purge (a comment)
echo "module purge (a quoted word)"
cat <<'EOS' > notes.txt
module purge inside a here-document
EOS
module load gcc/12.2.0 openmpi/4.1.5
srun ./solver
