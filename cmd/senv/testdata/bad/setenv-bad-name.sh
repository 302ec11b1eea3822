#!/bin/bash
#ENV setenv 1FOO=x
python train.py
