#!/bin/bash
#ENV
#ENV   # only a comment
python train.py
