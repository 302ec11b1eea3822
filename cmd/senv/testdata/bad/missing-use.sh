#!/bin/bash
#ENV use envs/nope
python train.py
