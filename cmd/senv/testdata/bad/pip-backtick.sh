#!/bin/bash
#ENV pip 'numpy`id`'
python train.py
