#!/bin/bash
#ENV file environment-section.yml
python train.py
