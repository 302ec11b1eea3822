#!/bin/bash
#SBATCH --time=1:00:00
#ENV file extras/pyproject.toml
#ENV extra gpu
#ENV group test
#ENV manager uv
python -m trainer
