#!/bin/bash
#ENV requirements requirements.txt nope.txt
python train.py
