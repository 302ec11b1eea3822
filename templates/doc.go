// Package templates renders every piece of shell that senv writes: the
// activation block, the block injected into a batch script, the lines a
// Slurm TaskProlog prints, and the module check of `senv check`. The shell lives in embedded .tmpl files; every
// value that reaches it goes through Quote, and nowhere else is shell built
// from strings.
//
// All generated code is POSIX sh: `sbatch --wrap` writes a #!/bin/sh script,
// which runs under dash on Debian-family nodes.
package templates
