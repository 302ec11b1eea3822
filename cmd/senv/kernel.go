package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/interactive"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/solver"
	"github.com/senv-hpc/senv/wrapper"
)

func kernelCommand() *cli.Command {
	prefix := &cli.StringFlag{Name: "prefix", Usage: "kernels go to `DIR`/share/jupyter/kernels (default: your Jupyter data dir)"}
	cmd := &cli.Command{
		Name:  "kernel",
		Usage: "install, list and remove Jupyter kernels that run in an senv environment",
		Description: `A kernel installed by senv starts through senv: on whichever node Jupyter
starts it, the env is staged from the cache (or built from the lock recorded
beside kernel.json: no solve), its modules are loaded, and the kernel holds
a lease on it for its life. Everything it needs is in the kernelspec; it
does not rely on the environment Jupyter starts it in.

Examples:
   senv kernel install train.sh
   senv kernel install --pip numpy --pip pandas --name analysis
   senv kernel install --prefix /proj/lab/jupyter train.sh
   senv kernel ls
   senv kernel rm analysis`,
		Subcommands: []*cli.Command{
			{
				Name:      "install",
				Usage:     "build the environment (adding ipykernel) and write a kernelspec for it",
				ArgsUsage: "[SCRIPT]",
				Description: `The env is SCRIPT's #ENV lines (and SCRIPT.lock) and/or the #ENV flags.
The kernel is named by --name NAME (#ENV name: lower-case letters, digits,
'.', '_', '-'), else senv-SCRIPTNAME, else senv-ID; installing again under
the same name replaces it. Prints the kernel name on stdout.`,
				Flags: append(envFlags(), prefix,
					&cli.BoolFlag{Name: "user", Usage: "install into your Jupyter data dir (the default)"},
					&cli.StringFlag{Name: "display-name", Usage: "name shown in Jupyter (default: NAME (senv ID, Python VERSION))"},
				),
				Action: kernelInstall,
			},
			{
				Name:  "ls",
				Usage: "list the kernels senv installed",
				Flags: []cli.Flag{prefix},
				Action: func(c *cli.Context) error {
					dir, err := interactive.KernelsDir(os.Getenv, c.String("prefix"))
					if err != nil {
						return usageError{err.Error()}
					}
					kernels, err := interactive.ListKernels(dir)
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "NAME\tENV\tDISPLAY NAME\tDIR")
					for _, k := range kernels {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.Name, k.Spec.Metadata.Senv.EnvID, k.Spec.DisplayName, k.Dir)
					}
					return w.Flush()
				},
			},
			{
				Name:      "rm",
				Usage:     "remove a kernel senv installed",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{prefix},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("senv kernel rm needs exactly one NAME (see senv kernel ls)")
					}
					dir, err := interactive.KernelsDir(os.Getenv, c.String("prefix"))
					if err != nil {
						return usageError{err.Error()}
					}
					if err := interactive.RemoveKernel(dir, c.Args().First()); err != nil {
						return err
					}
					say(c, "removed kernel %s", c.Args().First())
					return nil
				},
			},
			{
				Name:   "start",
				Usage:  "start a kernel in its environment (what an installed kernelspec runs)",
				Hidden: true,
				Flags: append(envFlags(),
					&cli.StringFlag{Name: "dir", Usage: "directory relative paths are relative to"},
					&cli.StringFlag{Name: "lock-file", Usage: "lock file to honour"},
					&cli.StringFlag{Name: "env-id", Usage: "use this cached env if present"},
				),
				Action: func(c *cli.Context) error {
					if c.NArg() == 0 || !afterDashDash(c) {
						return usagef("senv kernel start needs -- CMD")
					}
					p, err := prepareFromFlags(c)
					if err != nil {
						return err
					}
					return p.Run(execer, c.Args().Slice())
				},
			},
		},
	}
	for _, sub := range cmd.Subcommands {
		sub.Flags = append(sub.Flags, &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only errors"})
	}
	return cmd
}

// kernelInstall is `senv kernel install`.
func kernelInstall(c *cli.Context) error {
	if c.Bool("user") && c.String("prefix") != "" {
		return usagef("--user and --prefix exclude each other")
	}
	kernels, err := interactive.KernelsDir(os.Getenv, c.String("prefix"))
	if err != nil {
		return usageError{err.Error()}
	}
	s, opts, err := specFromArgs(c)
	if err != nil {
		return err
	}
	if s.Env.Empty() {
		return usagef("senv kernel install needs a SCRIPT or #ENV flags (--pip ..., --python ...)")
	}
	if err := addIPyKernel(c, s, opts); err != nil {
		return err
	}
	if _, err := interactive.KernelName(strings.ToLower(s.Env.Name), ""); s.Env.Name != "" && err != nil {
		return usageError{err.Error()}
	}
	opts.Publish = true // any node the kernel starts on stages it from the cache
	p, err := wrapper.Prepare(c.Context, &s.Env, opts)
	if err != nil {
		return err
	}
	// without a name or a script, the env ID tells kernels apart
	label := interactive.Label(s.Env.Name, c.Args().First())
	if s.Env.Name == "" && c.NArg() == 0 && p.ID != "" {
		label = p.ID[:8]
	}
	name, err := interactive.KernelName(strings.ToLower(s.Env.Name), label)
	if err != nil {
		return usageError{err.Error()}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("failed to find the senv binary: %w", err)
	}
	dir := filepath.Join(kernels, name)
	launcher := interactive.KernelLauncher{Senv: self, CacheDir: opts.Config.CacheDir, StageDir: opts.Config.StageDir,
		Dir: opts.Dir, EnvID: p.ID, Flags: flagArgs(s.Directives)}
	var lock []byte
	if p.Lock != nil {
		if lock, err = p.Lock.Marshal(); err != nil {
			return err
		}
		launcher.Lock = filepath.Join(dir, interactive.LockFile)
	}
	spec := interactive.KernelSpec{
		Argv:          launcher.Argv(),
		DisplayName:   displayName(c.String("display-name"), label, p),
		Language:      "python",
		InterruptMode: "signal",
		Env:           kernelEnv(opts.Config),
		Metadata:      interactive.KernelMetadata{Senv: &interactive.SenvKernel{EnvID: p.ID, Label: label, Version: version}},
	}
	if p.Lock != nil {
		spec.Metadata.Senv.Lock = interactive.LockFile
	}
	if _, err := interactive.InstallKernel(kernels, name, spec, lock); err != nil {
		return err
	}
	say(c, "installed kernel %s (%s) in %s", name, spec.DisplayName, dir)
	fmt.Fprintln(c.App.Writer, name)
	return nil
}

// addIPyKernel adds ipykernel to the spec unless it has it: named in its
// pip or conda packages, or in the lock its requirements files resolve to.
func addIPyKernel(c *cli.Context, s *jobspec.Script, opts wrapper.Options) error {
	env := &s.Env
	if env.Use != "" {
		return nil // an existing env: it must have ipykernel itself
	}
	key := "pip"
	if len(env.Conda) > 0 || solver.IsConda(env.Manager) {
		key = "conda"
	}
	if interactive.NamesPackage(env.Pip, "ipykernel") || interactive.NamesPackage(env.Conda, "ipykernel") {
		return nil
	}
	if len(env.Requirements) > 0 || env.File != "" {
		plan, err := wrapper.Resolve(c.Context, env, opts)
		if err != nil {
			return err
		}
		if plan.Lock != nil {
			for _, pkg := range plan.Lock.Packages {
				if interactive.Normalize(pkg.Name) == "ipykernel" {
					return nil
				}
			}
		}
	}
	say(c, "adding ipykernel to the environment (a Jupyter kernel needs it)")
	if e := s.Apply(jobspec.Directive{Key: key, Values: []string{"ipykernel"}, Pos: jobspec.Pos{Flag: key}}); e != nil {
		return e
	}
	return nil
}

// kernelEnv is the kernelspec's env: the PATH senv resolved the spec with,
// and every senv setting that is not a default (from a config file, a
// SENV_ variable or a flag), so that the kernel starts with the
// configuration of its install and not the portal's. The cache and stage
// dirs are in the argv.
func kernelEnv(cfg *config.Config) map[string]string {
	env := map[string]string{"PATH": os.Getenv("PATH")}
	for _, s := range config.Settings {
		if s.Key == "cache_dir" || s.Key == "stage_dir" || cfg.Source[s.Key] == "default" {
			continue
		}
		env[s.EnvVar()] = cfg.Value(s.Key)
	}
	return env
}

// displayName says which env the kernel runs in.
func displayName(flag, label string, p *wrapper.Prepared) string {
	if flag != "" {
		return flag
	}
	switch {
	case p.ID != "" && p.Lock != nil && p.Lock.PythonVersion != "":
		return fmt.Sprintf("%s (senv %s, Python %s)", label, p.ID, p.Lock.PythonVersion)
	case p.ID != "":
		return fmt.Sprintf("%s (senv %s)", label, p.ID)
	}
	return fmt.Sprintf("%s (senv)", label)
}
