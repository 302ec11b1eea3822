#!/bin/bash

#SBATCH --ntasks=1
   
	
  # indented comment
#ENV pip numpy


echo finished
