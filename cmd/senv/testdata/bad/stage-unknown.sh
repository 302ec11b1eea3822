#!/bin/bash
#ENV stage locl
python train.py
