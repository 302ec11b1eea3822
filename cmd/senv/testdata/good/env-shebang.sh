#!/usr/bin/env bash
#ENV pip numpy
python -c 'import numpy'
