#!/bin/bash
#ENV module 'cuda;rm -rf ~'
python train.py
