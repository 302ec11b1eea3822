#!/bin/bash
#ENV index-url --trusted-host
python train.py
