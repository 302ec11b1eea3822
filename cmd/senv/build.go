package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/wrapper"
)

// specFromArgs reads the spec from an optional SCRIPT argument plus flags.
func specFromArgs(c *cli.Context) (*jobspec.Script, wrapper.Options, error) {
	cfg, err := loadConfig(c, nil)
	if err != nil {
		return nil, wrapper.Options{}, err
	}
	if c.NArg() > 1 {
		return nil, wrapper.Options{}, usagef("at most one SCRIPT")
	}
	if c.NArg() == 1 {
		s, err := loadScript(c, c.Args().First())
		opts := scriptOptions(c, cfg, c.Args().First())
		opts.Upgrade = c.Bool("upgrade")
		return s, opts, err
	}
	s, err := jobspec.FromFlags(flagDirectives(c))
	opts := flagsOptions(c, cfg)
	opts.Upgrade = c.Bool("upgrade")
	return s, opts, err
}

func buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "build the environment into the cache (and stage it here), without running anything",
		ArgsUsage: "[SCRIPT]",
		Description: `Prints the env ID. Envs in a site cache (site_cache) are staged from there
and not built; what is built goes into your cache_dir.

Publishing a site cache (admins, as root): build into a root-owned,
world-readable dir that users name as site_cache (what senv writes there
is readable by all whatever the umask). Users stage
the env relocated into their own stage dir; binaries that embed the build
prefix fit only a stage dir no longer than the one it was built from, so
build from a long one.

Images: building into a site cache (cache_dir is one of site_cache) an env
of at least image_min_size (default 1G) also makes a squashfs image of it,
which the nodes' Prolog mounts at mount_dir/ID instead of staging the env;
--image makes one whatever the size (needs mksquashfs; see
docs/site-install.md).

Examples:
   senv build train.sh
   senv build --pip numpy --pip scipy
   senv build --upgrade train.sh      # solve again, record a new lock
   senv --cache-dir /sw/senv --stage-dir /tmp/senv-site-build-padding-padding build pytorch.sh
   senv --cache-dir /sw/senv build --image pytorch.sh   # and its image, for the Prolog to mount`,
		Flags: append(envFlags(), &cli.BoolFlag{Name: "upgrade", Usage: "solve again and record a new lock"},
			&cli.BoolFlag{Name: "image", Usage: "also make a squashfs image of the env, for the Prolog to mount (see mount_dir)"}),
		Action: func(c *cli.Context) error {
			s, opts, err := specFromArgs(c)
			if err != nil {
				return err
			}
			opts.Publish = true
			p, err := wrapper.Prepare(c.Context, &s.Env, opts)
			if err != nil {
				return err
			}
			if err := p.PublishImage(c.Context, opts.Config, c.Bool("image"), logger(c)); err != nil {
				return err
			}
			if p.ID != "" {
				fmt.Fprintln(c.App.Writer, p.ID)
			}
			return nil
		},
	}
}

func lockCommand() *cli.Command {
	return &cli.Command{
		Name:      "lock",
		Usage:     "solve the environment and write SCRIPT.lock beside the script",
		ArgsUsage: "SCRIPT",
		Description: `SCRIPT.lock records the exact packages (name, version, sha256). Later runs
of SCRIPT build exactly these, on any node, without solving. Commit it.

Examples:
   senv lock train.sh
   senv lock --upgrade train.sh    # solve again`,
		Flags: append(envFlags(), &cli.BoolFlag{Name: "upgrade", Usage: "solve again even if a lock exists"}),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("senv lock needs exactly one SCRIPT")
			}
			s, opts, err := specFromArgs(c)
			if err != nil {
				return err
			}
			plan, err := wrapper.Resolve(c.Context, &s.Env, opts)
			if err != nil {
				return err
			}
			if plan.Lock == nil {
				return usagef("%s builds no environment (modules or `use` only): nothing to lock", c.Args().First())
			}
			data, err := plan.Lock.Marshal()
			if err != nil {
				return err
			}
			tmp := opts.LockFile + ".tmp"
			if err := os.WriteFile(tmp, data, 0o644); err != nil {
				return fmt.Errorf("failed to write lock: %w", err)
			}
			if err := os.Rename(tmp, opts.LockFile); err != nil {
				return fmt.Errorf("failed to write lock: %w", err)
			}
			logf("wrote %s: %d packages, env %s", opts.LockFile, len(plan.Lock.Packages), plan.ID)
			return nil
		},
	}
}
