#!/bin/bash
#ENV pip numpy 'torch==2.3.*' "scipy>=1.11,<2"
#ENV pip "requests[socks]>=2.31" "pandas; python_version >= '3.10'"
#ENV pip Flask_Login
python -c 'import numpy'
