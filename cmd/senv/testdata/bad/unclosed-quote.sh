#!/bin/bash
#ENV pip "numpy scipy
python train.py
