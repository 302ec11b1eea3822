#!/bin/bash
#ENV [31mpip numpy
python train.py
