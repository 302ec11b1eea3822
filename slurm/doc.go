// Package slurm is senv's knowledge of Slurm: reading a job's script and
// submit path with scontrol, the hook entry points (TaskProlog, Prolog,
// Epilog) and the privilege drop by which the root hooks run everything
// that touches user paths as the job user.
//
// The root hooks re-execute senv as the job user. The caller passes the
// binary's path (Hook.Self) and the configuration in, so this package
// never imports the command that uses it.
package slurm
