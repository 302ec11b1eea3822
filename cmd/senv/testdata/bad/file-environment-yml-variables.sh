#!/bin/bash
#ENV file environment-variables.yml
python train.py
