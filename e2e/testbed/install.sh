#!/bin/bash
# install.sh — install what the senv Slurm testbed needs (Debian 12), as root.
#
#   bash e2e/testbed/install.sh
#
# Idempotent and fast when everything is present: `apt-get update` runs only if a package is
# missing. Packages: slurmctld slurmd slurm-client munge lmod shellcheck zstd python3-venv
# python3-pip dash git zsh squashfs-tools (mksquashfs, for env images). Also installs uv for all users (/usr/local/bin/uv), a pip with
# `pip lock` (/opt/senv-piplock), purges environment-modules, which conflicts with lmod,
# and, where ../shared/tools/conda is beside the repo, the real conda-family tools
# (install-conda.sh).
set -euo pipefail
umask 022

PKGS=(slurmctld slurmd slurm-client munge lmod shellcheck zstd python3-venv python3-pip dash git zsh squashfs-tools make)

log() { printf '[install %s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
[ "$(id -u)" = 0 ] || { echo "install.sh: must run as root" >&2; exit 1; }

installed() { # installed PKG -> 0 if dpkg has it fully installed
  [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done

if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  # Without systemd the postinst scripts' `invoke-rc.d <svc> start` fails (no slurm.conf yet)
  # and dpkg errors out. A policy-rc.d that exits 101 tells invoke-rc.d not to start anything.
  tmp_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    tmp_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$tmp_policy" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi

# environment-modules conflicts with lmod. Purge, not remove: a removed package keeps
# /etc/profile.d/modules.sh, which then breaks every login shell.
em=$(dpkg-query -W -f='${db:Status-Status}' environment-modules 2>/dev/null || true)
if [ -n "$em" ] && [ "$em" != not-installed ]; then
  log "purging environment-modules (conflicts with lmod)"
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq environment-modules >/dev/null
fi

# uv for every user: the system interpreter's pip installs it into /usr/local (world-readable
# with umask 022). PIP_USER=0 keeps it out of ~/.local even if root's environment says otherwise.
if [ ! -x /usr/local/bin/uv ]; then
  log "installing uv into /usr/local"
  PIP_USER=0 PIP_ROOT_USER_ACTION=ignore /usr/bin/python3 -m pip install -q --break-system-packages --no-warn-script-location uv
fi
chmod a+rx /usr/local/bin/uv
/usr/local/bin/uv --version >/dev/null

# a pip with `pip lock` (25.1 and later; Debian's is 23.0), for the tests that read the
# pylock.toml files pip writes
if ! /opt/senv-piplock/bin/pip lock --help >/dev/null 2>&1; then
  log "installing a pip with pip lock into /opt/senv-piplock"
  rm -rf /opt/senv-piplock
  /usr/bin/python3 -m venv /opt/senv-piplock
  PIP_USER=0 /opt/senv-piplock/bin/pip install -q --disable-pip-version-check 'pip>=25.1'
fi

# The real conda-family tools, where the bundle is beside the repo (CI requires them: .ci/run).
bundle=$(cd "$(dirname "$0")/../../.." && pwd)/shared/tools/conda
if [ -r "$bundle/README.md" ]; then
  bash "$(dirname "$0")/install-conda.sh" "$bundle" /opt/senv-conda-tools
else
  log "no conda tools bundle at $bundle: conda tests will skip (. /opt/senv-conda-tools/env.sh after installing them)"
fi
log "ok"
