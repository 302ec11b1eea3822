#!/bin/bash
# start.sh — bring up the senv Slurm testbed: a real Slurm cluster (Debian 12, Slurm 22.05) with
# two fake nodes on this one machine. Run as root, after install.sh.
#
#   bash e2e/testbed/start.sh            (stop with: bash e2e/testbed/stop.sh)
#
# Settings (all optional): SENV_TESTBED (default /opt/senv-testbed), CPUS_PER_NODE, MEM_PER_NODE,
# SENV_TESTBED_PROFILE: "default", or "site" for what big sites run (see README.md):
# job_container/tmpfs (a private /tmp per job, PrologFlags=Contain), cli_filter/lua with
# contrib/slurm/cli_filter.lua, and a per-job $SLURM_TMPDIR made by the Prolog.
#
# Layout under $TB (world-readable):
#   etc/slurm.conf               linked from /etc/slurm/slurm.conf
#   etc/{prolog,epilog,taskprolog}.sh
#                                hook wrappers: run `$TB/bin/senv prolog|epilog|task-prolog`
#                                when $TB/etc/hooks-on exists and $TB/bin/senv is executable
#   etc/senv.toml                SENV_CONFIG for the hooks (empty unless a test writes it)
#   bin/                         tests copy the senv binary here
#   work/ (1777)                 test work dirs: jobs must not read anything under /tmp
#   modulefiles/                 Lmod tree: python/3.11 cuda/12.1 gcc/12 (in every user's MODULEPATH)
#   sw/                          what the modulefiles point at
#   cluster/{state,spool,run,log}  daemon state; cluster/log/hooks.log has one line per hook run
#   cluster/nodes/nodeK/tmp      /tmp of node K: each slurmd runs in its own UTS+mount namespace
#                                with hostname nodeK and this directory bind-mounted on /tmp
#   site profile only:
#   cluster/nodes/nodeK/scratch  node K's local scratch, bind-mounted on $TB/scratch there; the
#                                Prolog makes $TB/scratch/USER.JOBID (the job's SLURM_TMPDIR)
#   cluster/jobcontainer/nodeK   job_container/tmpfs BasePath of node K (one dir per job)
#   etc/job_container.conf, etc/cli_filter.lua   linked from /etc/slurm/
#
# Idempotent: if the cluster is already up with the same config this does nothing. Otherwise it
# stops what runs (by pid), starts from fresh state (empty node /tmp dirs, like a reboot) and
# waits until both nodes are idle.
set -euo pipefail
umask 022

TB=${SENV_TESTBED:-/opt/senv-testbed}
NODES=2
CPUS_PER_NODE=${CPUS_PER_NODE:-$(nproc)}
MEM_PER_NODE=${MEM_PER_NODE:-4096} # MB; SlurmdParameters=config_overrides: need not match the HW
TEST_USER=senvtest
PROFILE=${SENV_TESTBED_PROFILE:-default}
case "$PROFILE" in default | site) ;; *) echo "start.sh: SENV_TESTBED_PROFILE must be default or site, not $PROFILE" >&2; exit 2 ;; esac
CTLD_PORT=6817
SLURMD_PORT0=6818 # node K listens on SLURMD_PORT0+K-1
WAIT_S=60

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ETC=$TB/etc
CL=$TB/cluster
t_start=$(date +%s.%N)
elapsed() { awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2fs", b-a}'; }
log() { printf '[start %s] %s (%s)\n' "$(date +%T.%3N)" "$*" "$(elapsed)" >&2; }

[ "$(id -u)" = 0 ] || { echo "start.sh: must run as root" >&2; exit 1; }
# The daemons must not inherit our open files: under `flock LOCK bash start.sh` (how tests
# share the testbed) a daemon holding the lock's descriptor would hold the lock forever.
for fd in "/proc/$$/fd/"*; do
  fd=${fd##*/}
  case $fd in 0 | 1 | 2 | 255) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
done
for c in slurmctld slurmd sbatch munged mungekey unshare runuser /usr/share/lmod/lmod/init/sh /usr/bin/python3.11; do
  command -v "$c" >/dev/null || [ -e "$c" ] || { echo "start.sh: $c missing; run: bash $HERE/install.sh" >&2; exit 1; }
done

# ---------------------------------------------------------------- 1. user, directories
id "$TEST_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$TEST_USER"
mkdir -p "$TB" "$ETC" "$TB/bin" "$TB/work" "$TB/scratch" "$CL"/{state,log,run,spool,nodes,jobcontainer}
chmod 755 "$TB" "$ETC" "$TB/bin" "$CL" "$CL/nodes" "$CL/jobcontainer"
chmod 1777 "$TB/scratch" # like a node-local /localscratch: users make their own dirs in it
chmod 1777 "$TB/work"
chown slurm:slurm "$CL/state" "$CL/log" # slurmctld runs as SlurmUser=slurm
touch "$CL/log/hooks.log"
chmod 666 "$CL/log/hooks.log"
[ -e "$ETC/senv.toml" ] || : >"$ETC/senv.toml"
chmod 644 "$ETC/senv.toml"

# ---------------------------------------------------------------- 2. software + Lmod modulefiles
mkdir -p "$TB/sw/python-3.11/bin" "$TB/sw/cuda-12.1" "$TB/modulefiles"/{python,cuda,gcc}
for n in python3 python3.11 python; do ln -sfn /usr/bin/python3.11 "$TB/sw/python-3.11/bin/$n"; done
cat >"$TB/modulefiles/python/3.11.lua" <<EOF
-- -*- lua -*-  (senv testbed)
whatis("Python 3.11 (testbed: symlinks to /usr/bin/python3.11)")
prepend_path("PATH", "$TB/sw/python-3.11/bin")
setenv("TESTBED_PYTHON_VERSION", "3.11")
EOF
cat >"$TB/modulefiles/cuda/12.1.lua" <<EOF
-- -*- lua -*-  (senv testbed)
whatis("CUDA 12.1 (fake: environment variables only)")
setenv("CUDA_VERSION", "12.1")
setenv("CUDA_HOME", "$TB/sw/cuda-12.1")
EOF
cat >"$TB/modulefiles/gcc/12.lua" <<EOF
-- -*- lua -*-  (senv testbed)
whatis("GCC 12 (fake: environment variable only)")
setenv("TESTBED_GCC", "12")
EOF
chmod -R a+rX "$TB/sw" "$TB/modulefiles"

# Lmod's default MODULEPATH: /etc/lmod/modulespath. Debian reads that file only in
# /etc/profile.d/lmod.sh (login shells); init/sh and init/bash leave MODULEPATH unset, so a
# job running `env -i /bin/sh -c '. /usr/share/lmod/lmod/init/sh; module load X'` would find
# nothing. /etc/lmod/lmod_config.lua (run by every `lmod` command) fills in the same default.
grep -qxF "$TB/modulefiles" /etc/lmod/modulespath 2>/dev/null || echo "$TB/modulefiles" >>/etc/lmod/modulespath
LMOD_CONFIG=/etc/lmod/lmod_config.lua
if [ -e "$LMOD_CONFIG" ] && ! grep -q 'senv testbed' "$LMOD_CONFIG"; then
  echo "start.sh: $LMOD_CONFIG exists and is not ours; not touching it" >&2
else
  cat >"$LMOD_CONFIG.new" <<'EOF'
-- written by the senv testbed (e2e/testbed/start.sh)
-- If MODULEPATH is unset or empty (a shell that sourced init/sh or init/bash without going
-- through /etc/profile.d/lmod.sh), initialise it from /etc/lmod/modulespath like lmod.sh does.
local mp = os.getenv("MODULEPATH")
if mp == nil or mp == "" then
  local f = io.open("/etc/lmod/modulespath")
  if f then
    local a = {}
    for line in f:lines() do
      for dir in line:gsub("#.*$", ""):gmatch("%S+") do
        if isDir(dir) then a[#a + 1] = dir end
      end
    end
    f:close()
    require("posix").setenv("MODULEPATH", table.concat(a, ":"))
  end
end
EOF
  chmod 644 "$LMOD_CONFIG.new"
  mv -f "$LMOD_CONFIG.new" "$LMOD_CONFIG"
fi

# ---------------------------------------------------------------- 3. hook wrappers
# Prolog/Epilog run as root with a minimal environment (no PATH); TaskProlog runs as the job
# user and its stdout is parsed by slurmstepd, so the wrappers print nothing themselves.
# The site profile adds what sites do for $SLURM_TMPDIR: the Prolog makes a private per-job
# dir on the node's local scratch, the TaskProlog exports it, the Epilog removes it.
site_hook() { # site_hook HOOK -> the site profile's lines for HOOK
  [ "$PROFILE" = site ] || return 0
  case $1 in
  prolog) cat <<'EOF'
# site: a private per-job dir on local scratch, the job's SLURM_TMPDIR
case ${SLURM_JOB_ID:-x} in *[!0-9]*) exit 1 ;; esac
d="$TB/scratch/$SLURM_JOB_USER.$SLURM_JOB_ID"
rm -rf -- "$d" # a requeued job's, or one a user made in the sticky dir
mkdir -m 0700 "$d" && chown "$SLURM_JOB_UID:$SLURM_JOB_GID" "$d" || exit 1
EOF
    ;;
  taskprolog) cat <<'EOF'
# site: the job's SLURM_TMPDIR, made by the Prolog
echo "export SLURM_TMPDIR=$TB/scratch/${SLURM_JOB_USER:-$(id -un)}.$SLURM_JOB_ID"
EOF
    ;;
  epilog) cat <<'EOF'
# site: remove the job's SLURM_TMPDIR
case ${SLURM_JOB_ID:-x} in *[!0-9]*) ;; *) rm -rf -- "$TB/scratch/$SLURM_JOB_USER.$SLURM_JOB_ID" ;; esac
EOF
    ;;
  esac
}
for hook in prolog:prolog epilog:epilog taskprolog:task-prolog; do
  f=${hook%%:*} cmd=${hook#*:}
  {
    cat <<EOF
#!/bin/sh
# $f.sh — generated by e2e/testbed/start.sh ($PROFILE profile). Runs \`senv $cmd\` when hooks are switched on.
# Prolog/Epilog get no PATH; TaskProlog keeps the job's (senv task-prolog diffs against it).
PATH=\${PATH:-/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}
export PATH
TB=$TB
EOF
    site_hook "$f"
    cat <<EOF
if [ -e "\$TB/etc/hooks-on" ] && [ -x "\$TB/bin/senv" ]; then on=senv; else on=off; fi
echo "$f \$(date +%T.%N) node=\${SLURMD_NODENAME:-} job=\${SLURM_JOB_ID:-} user=\${SLURM_JOB_USER:-\$(id -un)} step=\${SLURM_STEP_ID:-} hooks=\$on" >>"\$TB/cluster/log/hooks.log"
[ "\$on" = senv ] || exit 0
exec /usr/bin/env SENV_CONFIG="\$TB/etc/senv.toml" "\$TB/bin/senv" $cmd
EOF
  } >"$ETC/$f.sh.new"
  chmod 755 "$ETC/$f.sh.new"
  mv -f "$ETC/$f.sh.new" "$ETC/$f.sh"
done

# ---------------------------------------------------------------- 3b. site profile plugin configs
# job_container.conf and cli_filter.lua are read from slurm.conf's directory: $ETC for the
# daemons (SLURM_CONF), /etc/slurm for users' commands (the links). The tmpfs plugin appends
# the node's name to BasePath, so every fake node has its own.
site_files="job_container.conf cli_filter.lua"
if [ "$PROFILE" = site ]; then
  cat >"$ETC/job_container.conf.new" <<EOF
# generated by e2e/testbed/start.sh (site profile)
AutoBasePath=true
BasePath=$CL/jobcontainer
EOF
  # contrib's filter with this testbed's senv (sites set the same line)
  sed "s|^local senv = .*|local senv = \"$TB/bin/senv\"|" "$HERE/../../contrib/slurm/cli_filter.lua" >"$ETC/cli_filter.lua.new"
  grep -qxF "local senv = \"$TB/bin/senv\"" "$ETC/cli_filter.lua.new" || { echo "start.sh: cannot set senv's path in cli_filter.lua" >&2; exit 1; }
  for f in $site_files; do
    chmod 644 "$ETC/$f.new"
    mv -f "$ETC/$f.new" "$ETC/$f"
    [ "$(readlink "/etc/slurm/$f" 2>/dev/null)" = "$ETC/$f" ] || { mkdir -p /etc/slurm && ln -sfn "$ETC/$f" "/etc/slurm/$f"; }
  done
else
  for f in $site_files; do
    if [ "$(readlink "/etc/slurm/$f" 2>/dev/null)" = "$ETC/$f" ]; then rm -f "/etc/slurm/$f"; fi
    rm -f "$ETC/$f"
  done
fi

# ---------------------------------------------------------------- 4. slurm.conf
new_conf=$(mktemp)
cat >"$new_conf" <<EOF
# generated by e2e/testbed/start.sh (senv testbed, $PROFILE profile)
ClusterName=senvtest
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmUser=slurm
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT0
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$CL/state
SlurmdSpoolDir=$CL/spool/%n
SlurmctldPidFile=$CL/run/slurmctld.pid
SlurmdPidFile=$CL/run/slurmd-%n.pid
SlurmctldLogFile=$CL/log/slurmctld.log
SlurmdLogFile=$CL/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# no cgroups, no accounting DB
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
# the default batch_sched_delay=3 delays batch starts up to 3 s; with these a job starts ~1 s after submit
SchedulerParameters=batch_sched_delay=0,sched_interval=5,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=2
# finished jobs stay visible to scontrol for 5 minutes (there is no accounting DB)
MinJobAge=300
Prolog=$ETC/prolog.sh
Epilog=$ETC/epilog.sh
TaskProlog=$ETC/taskprolog.sh
$(if [ "$PROFILE" = site ]; then
  printf '%s\n' "# site profile: a private /tmp per job (needs PrologFlags=Contain), submit-time checks" \
    "JobContainerType=job_container/tmpfs" "PrologFlags=Contain" "CliFilterPlugins=cli_filter/lua"
else
  echo "PrologFlags=Alloc"
fi)
NodeName=node[1-$NODES] NodeHostname=node[1-$NODES] NodeAddr=127.0.0.1 Port=[$SLURMD_PORT0-$((SLURMD_PORT0 + NODES - 1))] CPUs=$CPUS_PER_NODE RealMemory=$MEM_PER_NODE State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
conf_changed=1
if [ -f "$ETC/slurm.conf" ] && cmp -s "$new_conf" "$ETC/slurm.conf"; then conf_changed=0; fi
mv -f "$new_conf" "$ETC/slurm.conf"
chmod 644 "$ETC/slurm.conf"
mkdir -p /etc/slurm
if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" != "$ETC/slurm.conf" ]; then
  if [ -e /etc/slurm/slurm.conf ] && [ ! -L /etc/slurm/slurm.conf ]; then
    mv /etc/slurm/slurm.conf /etc/slurm/slurm.conf.orig
  fi
  ln -sfn "$ETC/slurm.conf" /etc/slurm/slurm.conf
fi
export SLURM_CONF=$ETC/slurm.conf

alive() { # alive PIDFILE -> 0 if the pid in it is a live (non-zombie) process
  local p
  p=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$p" ] && [ -r "/proc/$p/stat" ] || return 1
  [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ]
}
nodes_in() { # nodes_in REGEX -> 0 if every node's state matches REGEX
  local out
  out=$(sinfo -h -N -o '%N %T' 2>/dev/null) || return 1
  [ "$(printf '%s\n' "$out" | grep -cE " ($1)\$")" = "$NODES" ] && [ "$(printf '%s\n' "$out" | wc -l)" = "$NODES" ]
}

# ---------------------------------------------------------------- 5. already up?
if [ "$conf_changed" = 0 ] && alive "$CL/run/slurmctld.pid" && nodes_in 'idle|mixed|allocated|completing'; then
  ok=1
  for i in $(seq 1 "$NODES"); do alive "$CL/run/slurmd-node$i.pid" || ok=0; done
  if [ "$ok" = 1 ]; then
    log "cluster already up"
    sinfo -N
    exit 0
  fi
fi
# something is off or the config changed: stop what runs (ours only, by pid file), start clean
SENV_TESTBED=$TB bash "$HERE/stop.sh" || true

# ---------------------------------------------------------------- 6. munge
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --force
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  cp /run/munge/munged.pid "$CL/run/munged.pid" # remember that we started it
fi
munge -n | unmunge >/dev/null || { echo "start.sh: munged not working" >&2; exit 1; }
log "munge ok"

# ---------------------------------------------------------------- 7. slurmctld (fresh state)
rm -rf "${CL:?}/state/"* "${CL:?}/spool/"*
: >"$CL/log/hooks.log" # job IDs start again from 1
/usr/sbin/slurmctld -c -i # -c: discard old job/node state; daemonizes, drops to SlurmUser
for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.1; done
scontrol ping >/dev/null || { tail -20 "$CL/log/slurmctld.log" >&2; exit 1; }
log "slurmctld up"

# ---------------------------------------------------------------- 8. one slurmd per node
# Own hostname and own /tmp per node; the namespaces live as long as the slurmd (and its jobs).
for i in $(seq 1 "$NODES"); do
  n=node$i
  rm -rf "${CL:?}/nodes/$n/tmp" "${CL:?}/nodes/$n/scratch" "${CL:?}/jobcontainer/$n"
  mkdir -p "$CL/spool/$n" "$CL/nodes/$n/tmp" "$CL/nodes/$n/scratch"
  chmod 755 "$CL/nodes/$n"
  chmod 1777 "$CL/nodes/$n/scratch"
  chmod 1777 "$CL/nodes/$n/tmp"
  # Site profile: the node-local scratch, at the same path on every node. And slurmd on CPU 0:
  # job_container/tmpfs binds each job's new mount namespace into BasePath, which the kernel
  # refuses (EINVAL, "ns base mount failed") unless the new namespace's ID is above that of
  # the namespace binding it. On this kernel (6.18) IDs seem not to grow across CPUs, and a fake node's
  # namespace is not the boot one a real slurmd runs in, so about one job in three failed to
  # launch; pinned, none of 24 did.
  scratch='' pin=''
  [ "$PROFILE" = site ] && pin="taskset -c 0"
  [ "$PROFILE" = site ] && scratch=" && mount --bind '$CL/nodes/$n/scratch' '$TB/scratch'"
  # shellcheck disable=SC2086 # $pin is a command prefix or nothing
  $pin unshare --uts --mount --propagation private -- /bin/sh -c \
    "hostname $n && mount --bind '$CL/nodes/$n/tmp' /tmp$scratch && exec /usr/sbin/slurmd -N $n"
done

# ---------------------------------------------------------------- 9. wait for idle
for _ in $(seq $((WAIT_S * 10))); do nodes_in idle && break; sleep 0.1; done
if ! nodes_in idle; then
  echo "start.sh: nodes not idle after ${WAIT_S}s:" >&2
  sinfo -N -l >&2 || true
  tail -5 "$CL"/log/slurmd-*.log >&2
  exit 1
fi
log "all $NODES nodes idle ($PROFILE profile)"
sinfo -N
echo "config: $ETC/slurm.conf (linked from /etc/slurm/slurm.conf)   logs: $CL/log"
echo "stop: bash $HERE/stop.sh"
