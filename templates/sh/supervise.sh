# senv runs every build and solve tool as "$@" under this shell, which is
# the leader of a process group of its own. The kernel sends it SIGTERM when
# senv dies, even by SIGKILL (PR_SET_PDEATHSIG, set by solver.Runner); it
# then kills the whole group, so no installer outlives senv and writes into
# a prefix the next run is rebuilding. The tool runs in the background only
# so that this shell is free to take the signal (wait returns at once).
trap 'kill -KILL 0' TERM
"$@" &
wait "$!"
