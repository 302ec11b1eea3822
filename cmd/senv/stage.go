package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/slurm"
	"github.com/senv-hpc/senv/wrapper"
)

func stageCommand() *cli.Command {
	return &cli.Command{
		Name:      "stage",
		Usage:     "stage a cached environment onto this node (no solve, no build)",
		ArgsUsage: "ID",
		Description: `Multi-node jobs run this on every node (one srun task per node) before the
payload's tasks start; admins can use it to pre-stage an env.

Example:
   srun --ntasks-per-node=1 senv stage 3da8f8c199244f6b`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "shared", Usage: "the env uses `stage none` (built in place in the cache)"}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("senv stage needs exactly one ID")
			}
			if _, err := envIDs(c); err != nil {
				return err
			}
			cfg, err := loadConfig(c, nil)
			if err != nil {
				return err
			}
			_, err = wrapper.StageCached(c.Context, c.Args().First(), flagsOptions(c, cfg), c.Bool("shared"))
			return err
		},
	}
}

// stageOnNodes stages p on every node when this is a multi-node job's batch
// script.
func stageOnNodes(c *cli.Context, p *wrapper.Prepared) error {
	if p.Store == nil || p.ID == "" {
		return nil
	}
	if _, ok := slurm.InBatchStep(); !ok {
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return slurm.StageOnNodes(c.Context, self, p.ID, p.Store.NoPack, logger(c))
}
