#!/bin/bash
# The conda workflow (module load miniconda; conda create -c pytorch -c nvidia ...;
# conda activate) without a solve in every job and without `conda activate`
# missing in the batch shell. `#ENV solver` needs conda: mamba and micromamba
# have one solver, and senv says so at check time rather than ignore it.
#SBATCH --gres=gpu:1 --time=04:00:00
#ENV conda -c pytorch -c nvidia pytorch=2.3 pytorch-cuda=12.1
#ENV channel conda-forge
#ENV python 3.11
#ENV manager conda
#ENV solver libmamba
python train.py
