#!/bin/bash
#ENV manager uv
#ENV python 3.12
#ENV pip polars
python -c 'import polars'
