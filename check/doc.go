// Package check validates a parsed job script against the world it will
// run in, without solving: referenced files exist and parse, modules are
// known to the module system, the spec canonicalizes. `senv check`, `senv
// sbatch` and the Slurm hooks share it.
//
// Errors are jobspec.Errors at the directive's FILE:LINE, so callers print
// them, and map them to exit codes, as they do parse errors.
package check
