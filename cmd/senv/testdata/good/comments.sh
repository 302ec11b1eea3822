#!/bin/bash
#ENV pip numpy # the array library
#ENV python 3.11 #pinned for the cluster
#ENV setenv TAG=run#1 # a # inside a word is kept
#ENV module cuda/12.1	# tab before the comment
python train.py
