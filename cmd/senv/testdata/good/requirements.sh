#!/bin/bash
#ENV requirements requirements.txt
#ENV requirements reqs/dev.txt
python -m pytest
