#!/bin/bash
#ENV file environment-full.yml
python analyse.py
