#!/bin/bash
# stop.sh — stop the senv Slurm testbed started by start.sh, by pid only (run as root).
#
#   bash e2e/testbed/stop.sh          KEEP_MUNGE=1 leaves munged running.
#
# Order: cancel jobs (a slurmstepd outlives a killed slurmd), stop leftover slurmstepds of this
# testbed, then the slurmds, slurmctld, and munged if start.sh started it. Files stay in place.
set -uo pipefail

TB=${SENV_TESTBED:-/opt/senv-testbed}
CL=$TB/cluster
[ -r "$TB/etc/slurm.conf" ] && export SLURM_CONF=$TB/etc/slurm.conf
log() { printf '[stop %s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
[ "$(id -u)" = 0 ] || { echo "stop.sh: must run as root" >&2; exit 1; }

# Stopped daemons can linger as zombies for seconds: a zombie counts as stopped.
alive_pid() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
stop_pid() { # stop_pid PID NAME: TERM, wait up to 10 s, then KILL
  local p=$1 name=$2
  case "$p" in '' | *[!0-9]*) return 0 ;; esac
  alive_pid "$p" || return 0
  kill -TERM "$p" 2>/dev/null
  for _ in $(seq 100); do
    alive_pid "$p" || { log "stopped $name (pid $p)"; return 0; }
    sleep 0.1
  done
  kill -KILL "$p" 2>/dev/null
  log "killed $name (pid $p)"
}

# 1. cancel jobs so that no slurmstepd outlives its slurmd
if [ -r "$CL/run/slurmctld.pid" ] && alive_pid "$(cat "$CL/run/slurmctld.pid")"; then
  mapfile -t jobs < <(squeue -h -o %A 2>/dev/null)
  if [ "${#jobs[@]}" -gt 0 ]; then
    log "cancelling jobs: ${jobs[*]}"
    scancel "${jobs[@]}" 2>/dev/null
    for _ in $(seq 100); do
      [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
fi

# 2. slurmstepds still around that belong to this testbed: their exe is slurmstepd and their
#    cwd is the SlurmdLogFile directory ($CL/log) or somewhere else under $CL
stepd=$(readlink -f /usr/sbin/slurmstepd 2>/dev/null || echo /usr/sbin/slurmstepd-wlm)
for d in /proc/[0-9]*; do
  [ "$(readlink "$d/exe" 2>/dev/null)" = "$stepd" ] || continue
  case "$(readlink "$d/cwd" 2>/dev/null)" in "$CL" | "$CL"/*) stop_pid "${d#/proc/}" slurmstepd ;; esac
done

# 3. slurmds, slurmctld, munged (only if start.sh started it)
for f in "$CL"/run/slurmd-*.pid; do
  [ -e "$f" ] || continue
  stop_pid "$(cat "$f")" "slurmd $(basename "$f" .pid)"
  rm -f "$f"
done
if [ -e "$CL/run/slurmctld.pid" ]; then
  stop_pid "$(cat "$CL/run/slurmctld.pid")" slurmctld
  rm -f "$CL/run/slurmctld.pid"
fi
if [ "${KEEP_MUNGE:-0}" != 1 ] && [ -e "$CL/run/munged.pid" ]; then
  stop_pid "$(cat "$CL/run/munged.pid")" munged
  rm -f "$CL/run/munged.pid"
fi
exit 0
