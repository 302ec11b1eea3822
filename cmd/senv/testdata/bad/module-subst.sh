#!/bin/bash
#ENV module 'gcc/$(id -u)' cuda/12.1
python train.py
