#!/bin/bash
#ENV file environment.yml
python analyse.py
