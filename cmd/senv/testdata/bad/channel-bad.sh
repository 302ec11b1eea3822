#!/bin/bash
#ENV channel 'conda forge'
python train.py
