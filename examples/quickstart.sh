#!/bin/bash
# The README's first command runs this on any Linux box with Python 3:
#   go run ./cmd/senv run examples/quickstart.sh
# senv builds a venv with `six` (from PyPI) once, caches it, stages it, and
# runs the lines below inside it. Run it twice: the second start is instant.
#SBATCH --job-name=quickstart --time=00:05:00
#ENV pip six
#ENV setenv GREETING="hello from senv"
echo "$GREETING"
echo "python: $(command -v python)"
python -c 'import six, sys; print("six", six.__version__, "on python", sys.version.split()[0])'
