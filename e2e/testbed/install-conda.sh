#!/bin/bash
# install-conda.sh — install the real conda-family tools the conda tests use (Debian 12,
# x86_64), as root, from the bundle in ../shared/tools/conda (see its README.md):
#
#   bash e2e/testbed/install-conda.sh [BUNDLE [TOOLS]]      # default TOOLS=/opt/senv-conda-tools
#   . /opt/senv-conda-tools/env.sh                          # what the tests read
#
# TOOLS gets micromamba + mamba 2.8.1 (mamba/bin), micromamba 1.5.12 (mm15/bin), conda
# 26.7.1 with the libmamba and classic solvers (bin/conda), the local test channel
# (channel/), a "miniconda/3" Lmod module whose conda is TOOLS/miniconda3/bin/conda, and
# env.sh exporting PATH, SENV_TEST_CHANNEL and SENV_TEST_MICROMAMBA15. Everything is
# world-readable (jobs run as other users). Idempotent: a part already installed is kept.
set -euo pipefail
umask 022
here=$(cd "$(dirname "$0")" && pwd)
BUNDLE=${1:-${SENV_CONDA_BUNDLE:-$here/../../../shared/tools/conda}}
TOOLS=${2:-/opt/senv-conda-tools}
TB=${SENV_TESTBED:-/opt/senv-testbed}
log() { printf '[install-conda %s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
[ "$(id -u)" = 0 ] || { echo "install-conda.sh: must run as root" >&2; exit 1; }
[ -r "$BUNDLE/README.md" ] || { echo "install-conda.sh: no conda tools bundle at $BUNDLE" >&2; exit 1; }
BUNDLE=$(cd "$BUNDLE" && pwd)
mkdir -p "$TOOLS"

# The setup scripts `set -euo pipefail` and export what they set up; each runs in a subshell
# so that only env.sh decides what the tests see.
if [ ! -x "$TOOLS/mamba/bin/micromamba" ]; then
  log "micromamba + mamba 2.8.1"
  # shellcheck source=/dev/null
  ( . "$BUNDLE/setup-micromamba.sh" "$BUNDLE" "$TOOLS" ) >/dev/null
fi
if [ ! -x "$TOOLS/mm15/bin/micromamba" ]; then
  log "micromamba 1.5.12"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libfmt9 libyaml-cpp0.7 >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libfmt9 libyaml-cpp0.7 >/dev/null; }
  mkdir -p "$TOOLS/mm15.new"
  tar -C "$TOOLS/mm15.new" -xzf "$BUNDLE/micromamba-1.5.12-debian12-x86_64.tar.gz"
  rm -rf "$TOOLS/mm15" && mv "$TOOLS/mm15.new" "$TOOLS/mm15"
fi
if [ ! -x "$TOOLS/bin/conda" ]; then
  log "conda 26.7.1 (libmamba, classic)"
  # Debian's interpreter: the channel's python package links to /usr/bin/python3.11
  # shellcheck source=/dev/null
  ( PATH=/usr/sbin:/usr/bin:/sbin:/bin; . "$BUNDLE/setup-conda.sh" "$BUNDLE" "$TOOLS" ) >/dev/null
fi
if [ ! -r "$TOOLS/channel/noarch/repodata.json" ]; then
  log "test channel"
  # shellcheck source=/dev/null
  ( . "$BUNDLE/setup-channel.sh" "$BUNDLE" "$TOOLS" ) >/dev/null
fi

# A site's "miniconda/3" module: it puts a conda on PATH that is on no other PATH.
mkdir -p "$TOOLS/miniconda3/bin"
printf '#!/bin/sh\nexec "%s/conda-venv/bin/python" -m conda "$@"\n' "$TOOLS" >"$TOOLS/miniconda3/bin/conda"
chmod 755 "$TOOLS/miniconda3/bin/conda"
mkdir -p "$TB/modulefiles/miniconda"
cat >"$TB/modulefiles/miniconda/3.lua" <<LUA
-- -*- lua -*-  (senv testbed, written by e2e/testbed/install-conda.sh)
whatis("Miniconda 3 (testbed: conda 26.7.1 from the senv conda tools bundle)")
prepend_path("PATH", "$TOOLS/miniconda3/bin")
setenv("CONDA_EXE", "$TOOLS/miniconda3/bin/conda")
LUA
chmod -R a+rX "$TB/modulefiles/miniconda"

cat >"$TOOLS/env.sh.new" <<ENV
# written by e2e/testbed/install-conda.sh: source it to run the conda tests
export PATH="$TOOLS/mamba/bin:$TOOLS/bin:\$PATH"
export SENV_TEST_CHANNEL="file://$TOOLS/channel"
export SENV_TEST_MICROMAMBA15="$TOOLS/mm15/bin/micromamba"
export SENV_TEST_MINICONDA_MODULE="miniconda/3"
ENV
mv -f "$TOOLS/env.sh.new" "$TOOLS/env.sh"
chmod -R a+rX "$TOOLS"
# shellcheck source=/dev/null
. "$TOOLS/env.sh"
log "ok: $(micromamba --version) $("$SENV_TEST_MICROMAMBA15" --version) $(mamba --version) $(conda --version)"
