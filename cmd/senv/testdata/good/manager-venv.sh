#!/bin/bash
#ENV manager venv
#ENV pip numpy
python -c 'import numpy'
