package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/wrapper"
)

func mountCommand() *cli.Command {
	return &cli.Command{
		Name:      "mount",
		Usage:     "admins: mount an env's image from a site cache on this node, as the Prolog does",
		ArgsUsage: "ID",
		Description: `As root: checks the image of env ID in the first site cache (site_cache)
that has one (its sha256, on this node's first mount of that file) and
mounts it read-only at mount_dir/ID, where jobs use it instead of staging
the env. Prints the mount path. The mount stays until "senv umount ID"
(the Epilog unmounts only what jobs mounted). The Prolog does this for
each job whose env has an image; this command is for checking an image,
and for keeping one mounted on a node.

Examples:
   senv mount 3f9a1c2b7d4e5f60
   senv umount 3f9a1c2b7d4e5f60`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("senv mount needs exactly one env ID")
			}
			if _, err := envIDs(c); err != nil {
				return err
			}
			if os.Geteuid() != 0 {
				return usagef("senv mount runs as root (kernel mounts need it)")
			}
			cfg, err := loadConfig(c, nil)
			if err != nil {
				return err
			}
			prefix, err := wrapper.MountImage(c.Context, cfg, c.Args().First(), envs.AdminJob, logger(c))
			if err != nil {
				return err
			}
			if prefix == "" {
				return usagef("no site cache (site_cache) has an image of env %s; make one with `senv build --image`", c.Args().First())
			}
			fmt.Fprintln(c.App.Writer, prefix)
			return nil
		},
	}
}

func umountCommand() *cli.Command {
	return &cli.Command{
		Name:      "umount",
		Usage:     "admins: unmount an env image that `senv mount` mounted, unless a running job uses it",
		ArgsUsage: "ID",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("senv umount needs exactly one env ID")
			}
			if _, err := envIDs(c); err != nil {
				return err
			}
			if os.Geteuid() != 0 {
				return usagef("senv umount runs as root")
			}
			cfg, err := loadConfig(c, nil)
			if err != nil {
				return err
			}
			return wrapper.UnmountImage(cfg, c.Args().First(), logger(c))
		},
	}
}
