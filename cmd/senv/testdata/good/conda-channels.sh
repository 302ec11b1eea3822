#!/bin/bash
#ENV conda -c conda-forge numpy>=1.26 --channel bioconda samtools=1.19
#ENV conda --channel=pytorch pytorch=2.3 "python 3.11.*" conda-forge::scipy
python -c 'import torch'
