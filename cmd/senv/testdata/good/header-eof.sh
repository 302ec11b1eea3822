#!/bin/bash
#SBATCH --ntasks=1
#ENV pip numpy