#!/bin/bash
#ENV pip
python train.py
