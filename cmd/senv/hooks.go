package main

import (
	"github.com/urfave/cli/v2"
)

func taskPrologCommand() *cli.Command {
	return &cli.Command{
		Name:  "task-prolog",
		Usage: "Slurm TaskProlog entry point: stage the job's env, print export lines",
		Action: func(c *cli.Context) error {
			return usagef("senv task-prolog is not implemented yet")
		},
	}
}

func prologCommand() *cli.Command {
	return &cli.Command{
		Name:  "prolog",
		Usage: "Slurm Prolog entry point (root): pre-stage the job's env as the job user",
		Action: func(c *cli.Context) error {
			return usagef("senv prolog is not implemented yet")
		},
	}
}

func epilogCommand() *cli.Command {
	return &cli.Command{
		Name:  "epilog",
		Usage: "Slurm Epilog entry point: optional cleanup",
		Action: func(c *cli.Context) error {
			return usagef("senv epilog is not implemented yet")
		},
	}
}
