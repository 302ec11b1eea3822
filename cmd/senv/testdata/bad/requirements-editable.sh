#!/bin/bash
#ENV requirements req-editable.txt
python train.py
