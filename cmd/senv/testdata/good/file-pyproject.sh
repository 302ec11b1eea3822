#!/bin/bash
#ENV file pyproject.toml
python -m myproject
