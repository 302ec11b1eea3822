#!/bin/bash
#ENV file requirements.txt
#ENV python 3.12
python train.py
