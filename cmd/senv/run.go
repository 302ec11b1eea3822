package main

import (
	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/wrapper"
)

// execer is how run replaces the process; tests swap it.
var execer wrapper.Execer = wrapper.SyscallExec{}

// prepareHere prepares the env on this node and, in a multi-node job's
// batch script, on every other node of the job.
func prepareHere(c *cli.Context, script *jobspec.Script, opts wrapper.Options) (*wrapper.Prepared, error) {
	p, err := wrapper.Prepare(c.Context, &script.Env, opts)
	if err != nil {
		return nil, err
	}
	return p, stageOnNodes(c, p)
}

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
			if afterDashDash(c) {
				script, err := jobspec.FromFlags(flagDirectives(c))
				if err != nil {
					return err
				}
				p, err := prepareHere(c, script, flagsOptions(c, cfg))
				if err != nil {
					return err
				}
				return p.Run(execer, c.Args().Slice())
			}
			path := c.Args().First()
			script, err := loadScript(c, path)
			if err != nil {
				return err
			}
			p, err := prepareHere(c, script, scriptOptions(c, cfg, path))
			if err != nil {
				return err
			}
			return p.RunScript(execer, script, path, c.Args().Tail())
		},
	}
}
