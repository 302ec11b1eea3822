#!/bin/bash
#ENV manager mamba
#ENV solver classic
#ENV conda -c conda-forge gdal
gdalinfo --version
