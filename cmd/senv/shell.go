package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/interactive"
)

func shellCommand() *cli.Command {
	return &cli.Command{
		Name:      "shell",
		Usage:     "start an interactive shell with the environment staged and activated",
		ArgsUsage: "[SCRIPT]",
		Description: `Makes sure the environment exists (from SCRIPT's #ENV lines and SCRIPT.lock,
and/or the #ENV flags), stages it on this node, and starts your shell ($SHELL:
bash or zsh) with your own startup file read first, then the modules loaded,
the env activated and the prompt marked "(senv:NAME|ID) ". The shell holds
the env's lease until it exits. Inside a multi-node allocation (salloc -N2)
the env is staged on every allocated node first, so "srun python ..." works.

Examples:
   senv shell train.sh
   senv shell --module cuda/12.1 --pip torch
   salloc -N2 senv shell train.sh`,
		Flags: append(envFlags(),
			&cli.StringFlag{Name: "shell", Usage: "the shell to start (default: $SHELL, else bash)"},
		),
		Action: func(c *cli.Context) error {
			path := shellPath(c.String("shell"))
			if _, err := interactive.ShellKind(path); err != nil {
				return usageError{err.Error()}
			}
			s, opts, err := specFromArgs(c)
			if err != nil {
				return err
			}
			p, err := prepareHere(c, s, opts)
			if err != nil {
				return err
			}
			label := interactive.Label(s.Env.Name, c.Args().First())
			if p.ID != "" {
				say(c, "env %s: starting %s; exit it to release the env", p.ID, path)
			}
			return interactive.Shell{Path: path, Prompt: interactive.Prompt(label, p.ID)}.Exec(execer, p)
		},
	}
}

// shellPath is the shell to start: the flag, else $SHELL, else bash.
func shellPath(flag string) string {
	if flag != "" {
		return flag
	}
	if sh := os.Getenv("SHELL"); sh != "" {
		return sh
	}
	return "bash"
}
