#!/bin/bash
#SBATCH --time=00:10:00
#ENV python 3.11
python3 --version
