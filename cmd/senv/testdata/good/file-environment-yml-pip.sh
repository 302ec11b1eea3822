#!/bin/bash
#ENV file environment-pip.yml
python train.py
