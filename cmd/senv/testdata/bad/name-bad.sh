#!/bin/bash
#ENV name 'my env'
python train.py
