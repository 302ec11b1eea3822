#!/bin/bash
#ENV stage none
#ENV pip numpy
python -c 'import numpy'
