#!/bin/bash
#ENV file env.json
python train.py
