// Package wrapper is senv's run-time path: resolve the spec to a lock,
// ensure the environment is staged on this node, render its activation, and
// exec the payload in it. It is what `senv run`, `senv activate`, the
// injected block of a batch script and the Slurm hooks share.
package wrapper
