package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/check"
	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/slurm"
	"github.com/senv-hpc/senv/wrapper"
)

func sbatchCommand() *cli.Command {
	return &cli.Command{
		Name:      "sbatch",
		Usage:     "validate, lock and build on the submit host, then submit with the real sbatch",
		ArgsUsage: "[SENV FLAGS] [SBATCH OPTIONS] SCRIPT [ARGS...] | [SENV FLAGS] [SBATCH OPTIONS] --wrap CMD",
		Description: `senv's own flags (the #ENV keys as --KEY VALUE, and --build-at) come first;
every other option goes to sbatch unchanged, and sbatch's output is printed
as it is (--parsable too). Bad directives, an unknown module or a missing
file exit 2 and nothing is queued.

--build-at submit (default, config build_at) builds the env here, so jobs
only stage it: the job is submitted once the env is installed, and senv
compiles its bytecode, packs and publishes it while the job is queued (a
job that starts first waits for that; with sbatch's --wait, senv does it
first). --build-at job
leaves the build to the first job (one build across all of them).

Examples:
   senv sbatch train.sh
   senv sbatch --pip numpy -N2 --time 1:00:00 train.sh --epochs 3
   senv sbatch --pip numpy --wrap "python -c 'import numpy'"`,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			// the flags are sbatch's and senv's, parsed by senv: help too
			if args := c.Args().Slice(); len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
				return cli.ShowSubcommandHelp(c)
			}
			return sbatch(c, c.Args().Slice())
		},
	}
}

func sbatch(c *cli.Context, raw []string) error {
	a, err := slurm.ParseSbatchArgs(raw)
	if err != nil {
		return usagef("%v", err)
	}
	if a.HasWrap == (a.Script != "") {
		return usagef("senv sbatch needs a SCRIPT or --wrap CMD (not both)")
	}
	extra := map[string]string{}
	if a.BuildAt != "" {
		extra["build_at"] = a.BuildAt
	}
	cfg, err := loadConfig(c, extra)
	if err != nil {
		return err
	}
	var s *jobspec.Script
	path := a.Script
	if a.HasWrap {
		body := "#!/bin/sh\n# This script was created by senv sbatch --wrap.\n\n"
		if s, err = jobspec.Parse(strings.NewReader(body), "--wrap"); err != nil {
			return err
		}
		s.Payload = []byte(a.Wrap + "\n")
		if err := s.ApplyFlags(a.Env); err != nil {
			return err
		}
		path = "wrap"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return usagef("cannot open script: %v", err)
		}
		s, err = jobspec.Parse(f, path)
		f.Close()
		if err != nil {
			return err
		}
		if s.Shebang == "" {
			return jobspec.ErrorList{{Pos: jobspec.Pos{File: path, Line: 1}, Msg: "no #! line: sbatch refuses this script", Hint: "add #!/bin/bash as the first line"}}
		}
		if err := s.ApplyFlags(a.Env); err != nil {
			return err
		}
	}
	dir, _ := filepath.Abs(filepath.Dir(path))
	if errs := check.Spec(s, cfg, dir, path); len(errs) > 0 {
		return errs
	}
	printWarnings(check.ModuleResets(s, cfg, dir))
	submitFor := func(envID string) error {
		rendered, err := renderScript(s, path, a.Env, envID)
		if err != nil {
			return err
		}
		return submit(c, a, path, rendered)
	}
	// A build submits the job once the env is installed, and compiles and
	// packs it while the job waits in the queue (the job waits for that if
	// it starts first); else the job is submitted here. Not with --wait: sbatch
	// would hold the build lock until the job, waiting for it, ended.
	var submitted bool
	var submitErr error
	installed := func(id string) {
		submitted, submitErr = true, submitFor(id)
		if submitErr == nil {
			logf("env %s: job submitted; compiling and packing the env for it now (if this is interrupted, the job builds the env itself)", id)
		}
	}
	if a.Waits() {
		installed = nil
	}
	envID, err := prepareForSubmit(c, s, path, a.HasWrap, cfg, installed)
	switch {
	case submitted && submitErr != nil:
		return submitErr // the env is published all the same, for the next submit
	case submitted && err != nil:
		// queued: its job builds the env itself, from the recorded lock
		return fmt.Errorf("the job is queued, but the env was not published after its install: %w\n"+
			"hint: the job will build the env itself, unless it fails the same way", err)
	case submitted:
		return nil
	case err != nil:
		return err
	}
	return submitFor(envID)
}

// prepareForSubmit locks the spec on the submit host (no solve in any job)
// and, with build_at = submit, builds it too; it returns the env ID to pin.
// installed, if not nil, is called if it builds, between the install and
// the pack.
func prepareForSubmit(c *cli.Context, s *jobspec.Script, path string, wrap bool, cfg *config.Config, installed func(id string)) (string, error) {
	if s.Env.Empty() {
		return "", nil
	}
	opts := scriptOptions(c, cfg, path)
	if wrap {
		opts = flagsOptions(c, cfg)
	}
	if cfg.BuildAt == "job" {
		_, err := wrapper.Resolve(c.Context, &s.Env, opts)
		return "", err
	}
	opts.Publish = true // the jobs' nodes look for it in the cache
	opts.Installed = installed
	p, err := wrapper.Prepare(c.Context, &s.Env, opts)
	if err != nil {
		return "", err
	}
	return p.ID, nil
}

// submit writes the rendered script under its own name (sbatch names the job
// after the file) and runs the real sbatch on it.
func submit(c *cli.Context, a *slurm.SbatchArgs, path string, rendered []byte) error {
	// sbatch runs the script as the user: no one else may swap it
	if err := envs.CheckTempDir(os.TempDir(), nil); err != nil {
		return fmt.Errorf("failed to write the rendered script: %w", err)
	}
	dir, err := os.MkdirTemp("", "senv-sbatch-")
	if err != nil {
		return fmt.Errorf("failed to write the rendered script: %w", err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(file, rendered, 0o700); err != nil {
		return fmt.Errorf("failed to write the rendered script: %w", err)
	}
	err = slurm.Submit(c.Context, a, file, c.App.Writer, stderr)
	var ee *slurm.ExitError
	if errors.As(err, &ee) {
		return cli.Exit("", ee.Code) // sbatch said why
	}
	return err
}
