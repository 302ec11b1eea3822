#!/bin/bash
#ENV file environment.yml
python train.py
