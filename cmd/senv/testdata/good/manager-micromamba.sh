#!/bin/bash
#ENV manager micromamba
#ENV conda numpy
python -c 'import numpy'
