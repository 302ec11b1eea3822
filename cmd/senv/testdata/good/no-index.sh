#!/bin/bash
#ENV no-index
#ENV find-links wheels
#ENV pip mypkg==1.0
python -m mypkg
