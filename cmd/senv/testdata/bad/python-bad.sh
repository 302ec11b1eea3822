#!/bin/bash
#ENV python 3.x
python train.py
