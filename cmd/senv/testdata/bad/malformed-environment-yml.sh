#!/bin/bash
#ENV file broken/environment.yml
python train.py
