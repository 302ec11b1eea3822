#!/bin/bash
#ENV requirements req-nested.txt
python train.py
