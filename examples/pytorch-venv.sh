#!/bin/bash
# The cluster guide's by-hand workflow:
#   module load cuda/12.1 python/3.11; python -m venv $SLURM_TMPDIR/env
#   source $SLURM_TMPDIR/env/bin/activate; pip install torch numpy
# as directives: solved once, built once, staged on the node's local disk.
#SBATCH --gres=gpu:1 --cpus-per-task=4 --mem=16G --time=02:00:00
#ENV module cuda/12.1
#ENV python 3.11
#ENV manager venv
#ENV pip torch==2.3.* numpy
#ENV requirements requirements.txt
python train.py
