#!/bin/bash
#ENV requirements -r requirements.txt
python train.py
