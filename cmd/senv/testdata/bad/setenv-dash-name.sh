#!/bin/bash
#ENV setenv MY-VAR=x
python train.py
