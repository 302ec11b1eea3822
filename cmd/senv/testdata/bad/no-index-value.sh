#!/bin/bash
#ENV no-index yes
python train.py
