#!/bin/bash
#ENV manager conda
#ENV solver classic
#ENV conda -c conda-forge gdal
gdalinfo --version
