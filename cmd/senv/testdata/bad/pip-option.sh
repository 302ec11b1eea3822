#!/bin/bash
#ENV pip --index-url=https://pypi.example.org/simple numpy
python train.py
