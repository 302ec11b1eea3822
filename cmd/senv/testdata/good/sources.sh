#!/bin/bash
#ENV index-url https://pypi.example.org/simple
#ENV extra-index-url https://download.pytorch.org/whl/cu121 https://gitlab.example.org/api/v4/projects/7/packages/pypi/simple
#ENV extra-index-url https://b.example.org/simple
#ENV find-links https://example.org/wheels/ wheels
#ENV pip torch
python -c 'import torch'
