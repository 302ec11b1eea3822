#!/bin/bash
#ENV name torch-cuda_12.1
#ENV pip torch
python train.py
