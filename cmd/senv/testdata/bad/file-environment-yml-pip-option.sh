#!/bin/bash
#ENV file environment-pip-option.yml
python train.py
