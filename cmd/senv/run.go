package main

import (
	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/wrapper"
)

// execer is how run replaces the process; tests swap it.
var execer wrapper.Execer = wrapper.SyscallExec{}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "ensure and stage the environment, then run a script or command in it",
		ArgsUsage: "SCRIPT [ARGS...] | -- CMD [ARGS...]",
		Description: `Reads SCRIPT's #ENV directives (and PEP 723 metadata for Python scripts),
makes sure the environment exists (solved once, built once, cached), stages
it on this node, and runs SCRIPT with its shebang's interpreter inside it.
With "--", the environment comes from flags alone and CMD is executed in it.
Works inside a Slurm job and on any Linux machine.

Examples:
   senv run train.sh --epochs 3
   senv run --pip numpy -- python -c 'import numpy; print(numpy.__version__)'
   sbatch --wrap "senv run --module cuda/12.1 --pip torch -- python train.py"`,
		Flags: envFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("senv run needs a SCRIPT, or -- CMD")
			}
			cfg, err := loadConfig(c, nil)
			if err != nil {
				return err
			}
			var script *jobspec.Script
			opts := flagsOptions(c, cfg)
			var argv []string
			if afterDashDash(c) {
				if script, err = jobspec.FromFlags(flagDirectives(c)); err != nil {
					return err
				}
				argv = c.Args().Slice()
			} else {
				path := c.Args().First()
				if script, err = loadScript(c, path); err != nil {
					return err
				}
				opts = scriptOptions(c, cfg, path)
				if argv, err = wrapper.ScriptArgv(script.Shebang, path, c.Args().Tail()); err != nil {
					return err
				}
			}
			p, err := wrapper.Prepare(c.Context, &script.Env, opts)
			if err != nil {
				return err
			}
			if err := stageOnNodes(c, p); err != nil {
				return err
			}
			return p.Run(execer, argv)
		},
	}
}
