#!/bin/bash
#ENV no-index
#ENV find-links /site/wheels
#ENV no-index
python train.py
