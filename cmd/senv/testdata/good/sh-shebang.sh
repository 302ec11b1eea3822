#!/bin/sh
#ENV pip numpy
exec python -c 'import numpy'
