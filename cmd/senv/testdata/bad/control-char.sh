#!/bin/bash
#ENV setenv 'COLOR=[31mred'
#ENV pip 'numpy'
python train.py
