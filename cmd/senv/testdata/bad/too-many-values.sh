#!/bin/bash
#ENV python 3.11 3.12
python train.py
