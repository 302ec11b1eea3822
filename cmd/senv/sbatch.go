package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/check"
	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
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
only stage it; --build-at job leaves the build to the first job (one build
across all of them).

Examples:
   senv sbatch train.sh
   senv sbatch --pip numpy -N2 --time 1:00:00 train.sh --epochs 3
   senv sbatch --pip numpy --wrap "python -c 'import numpy'"`,
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			return sbatch(c, c.Args().Slice())
		},
	}
}

// sbatchArgs is a `senv sbatch` command line taken apart.
type sbatchArgs struct {
	env     []jobspec.Directive // senv's #ENV flags
	buildAt string
	sbatch  []string // options for sbatch, in order
	wrap    string
	hasWrap bool
	script  string
	args    []string // script arguments
}

// sbatchNoArg are sbatch's options that take no separate value.
var sbatchNoArg = map[string]bool{
	"-H": true, "--hold": true, "-h": true, "--help": true, "-I": true, "--immediate": true, "-k": true, "--no-kill": true,
	"-O": true, "--overcommit": true, "-Q": true, "--quiet": true, "-s": true, "--oversubscribe": true, "-u": true, "--usage": true,
	"-V": true, "--version": true, "-v": true, "--verbose": true, "-W": true, "--wait": true, "--parsable": true, "--test-only": true,
	"--requeue": true, "--no-requeue": true, "--contiguous": true, "--spread-job": true, "--use-min-nodes": true,
	"--ignore-pbs": true, "--exclusive": true, "--get-user-env": true, "--reboot": true, "--no-requeue-on-fail": true,
	// options whose argument is optional take it only as --opt=value
	"--nice": true, "--propagate": true, "--oom-kill-step": true,
}

// parseSbatchArgs separates senv's flags from sbatch's and finds the script.
func parseSbatchArgs(args []string) (*sbatchArgs, error) {
	a := &sbatchArgs{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name, value, hasValue := strings.Cut(arg, "=")
		next := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", usagef("%s needs a value", arg)
			}
			i++
			return args[i], nil
		}
		key := strings.TrimPrefix(name, "--")
		switch {
		case arg == "--":
			continue
		case strings.HasPrefix(arg, "--") && jobspec.LookupKey(key) != nil:
			k := jobspec.LookupKey(key)
			d := jobspec.Directive{Key: key, Pos: jobspec.Pos{Flag: key}}
			if k.Max != 0 {
				v, err := next()
				if err != nil {
					return nil, err
				}
				d.Values = []string{v}
			}
			a.env = append(a.env, d)
		case name == "--build-at":
			v, err := next()
			if err != nil {
				return nil, err
			}
			a.buildAt = v
		case name == "--wrap":
			v, err := next()
			if err != nil {
				return nil, err
			}
			a.wrap, a.hasWrap = v, true
		case strings.HasPrefix(arg, "-") && len(arg) > 1:
			a.sbatch = append(a.sbatch, arg)
			takesValue := !sbatchNoArg[name] && !hasValue && (strings.HasPrefix(arg, "--") || len(arg) == 2)
			if takesValue && i+1 < len(args) {
				i++
				a.sbatch = append(a.sbatch, args[i])
			}
		default:
			a.script, a.args = arg, args[i+1:]
			return a, nil
		}
	}
	return a, nil
}

func sbatch(c *cli.Context, raw []string) error {
	a, err := parseSbatchArgs(raw)
	if err != nil {
		return err
	}
	if a.hasWrap == (a.script != "") {
		return usagef("senv sbatch needs a SCRIPT or --wrap CMD (not both)")
	}
	extra := map[string]string{}
	if a.buildAt != "" {
		extra["build_at"] = a.buildAt
	}
	cfg, err := loadConfig(c, extra)
	if err != nil {
		return err
	}
	var s *jobspec.Script
	path := a.script
	if a.hasWrap {
		body := "#!/bin/sh\n# This script was created by senv sbatch --wrap.\n\n"
		if s, err = jobspec.Parse(strings.NewReader(body), "--wrap"); err != nil {
			return err
		}
		s.Payload = []byte(a.wrap + "\n")
		if err := s.ApplyFlags(a.env); err != nil {
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
		if err := s.ApplyFlags(a.env); err != nil {
			return err
		}
	}
	dir, _ := filepath.Abs(filepath.Dir(path))
	if errs := check.Spec(s, cfg, dir, path); len(errs) > 0 {
		return errs
	}
	printWarnings(check.ModuleResets(s, cfg, dir))
	envID, err := prepareForSubmit(c, s, path, a.hasWrap, cfg)
	if err != nil {
		return err
	}
	rendered, err := renderScript(s, path, a.env, envID)
	if err != nil {
		return err
	}
	return submit(c, a, path, rendered)
}

// prepareForSubmit locks the spec on the submit host (no solve in any job)
// and, with build_at = submit, builds it too; it returns the env ID to pin.
func prepareForSubmit(c *cli.Context, s *jobspec.Script, path string, wrap bool, cfg *config.Config) (string, error) {
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
	p, err := wrapper.Prepare(c.Context, &s.Env, opts)
	if err != nil {
		return "", err
	}
	return p.ID, nil
}

// submit writes the rendered script under its own name (sbatch names the job
// after the file) and runs the real sbatch on it.
func submit(c *cli.Context, a *sbatchArgs, path string, rendered []byte) error {
	dir, err := os.MkdirTemp("", "senv-sbatch-")
	if err != nil {
		return fmt.Errorf("failed to write the rendered script: %w", err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(file, rendered, 0o700); err != nil {
		return fmt.Errorf("failed to write the rendered script: %w", err)
	}
	args := append(append(append([]string(nil), a.sbatch...), file), a.args...)
	cmd := exec.CommandContext(c.Context, "sbatch", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, c.App.Writer, stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return cli.Exit("", ee.ExitCode())
		}
		return fmt.Errorf("failed to run sbatch: %w", err)
	}
	return nil
}
