#!/bin/bash
#ENV manager pixi
python train.py
