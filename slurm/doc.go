// Package slurm is senv's knowledge of Slurm: reading a job's script and
// submit path with scontrol, the hook entry points (TaskProlog, Prolog,
// Epilog) and the privilege drop by which the root hooks run everything
// that touches user paths as the job user, `senv sbatch`'s command line
// (which options are senv's, which sbatch's) and the real sbatch it runs,
// and the srun step that stages an env on every node of a multi-node job.
//
// The root hooks re-execute senv as the job user. The caller passes the
// binary's path (Hook.Self) and the configuration in, so this package
// never imports the command that uses it.
package slurm
