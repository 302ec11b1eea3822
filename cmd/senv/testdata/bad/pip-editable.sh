#!/bin/bash
#ENV pip -e .
python train.py
