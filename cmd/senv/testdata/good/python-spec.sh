#!/bin/bash
#ENV python '>=3.11'
python train.py
