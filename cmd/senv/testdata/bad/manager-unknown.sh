#!/bin/bash
#ENV manager cond
python train.py
