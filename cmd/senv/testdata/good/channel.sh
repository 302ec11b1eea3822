#!/bin/bash
#ENV channel conda-forge https://conda.example.org/main
#ENV channel nvidia
#ENV conda cudatoolkit=12.1
nvidia-smi
