#!/bin/bash
#ENV file broken/pyproject.toml
python train.py
