#!/bin/bash
#ENV setenv 'CITY=München'
python train.py
