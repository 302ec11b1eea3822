#!/bin/bash
# The site's conda from its module: senv finds conda with the module loaded,
# passes the solver choice to it, and activates the env without `conda
# activate` (no `conda init` needed in batch shells).
#SBATCH --time=00:30:00
#ENV module miniconda/3
#ENV conda -c pytorch -c nvidia pytorch=2.3 pytorch-cuda=12.1
#ENV channel conda-forge
#ENV solver classic
python -c 'import torch; print(torch.__version__)'
