package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/check"
	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/wrapper"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "validate scripts: directives, referenced files, module names, and the solve with --solve",
		ArgsUsage: "SCRIPT...",
		Description: `Exits 0 when every script is valid, 2 otherwise. Each error is printed as
FILE:LINE: #ENV KEY: message, followed by a "senv: hint:" line where one helps.
Warnings (exit 0) name lines that senv runs but that likely break the job: a
payload command that unloads the modules senv loaded before it (module purge,
module --force purge, ml purge, module restore, module reset). senv sbatch
prints the same warnings.

Sites can run it on every plain "sbatch job.sh" with #ENV lines, so that a
typo fails at submit: contrib/slurm/cli_filter.lua (docs/hooks.md).

Examples:
   senv check train.sh
   senv check --solve jobs/*.sh
   senv check --json train.sh
   sbatch train.sh     # with the site's cli_filter: refused here if train.sh's #ENV lines are bad`,
		Flags: append(envFlags(),
			&cli.BoolFlag{Name: "solve", Usage: "also solve the environment (records the lock in the cache)"},
			&cli.BoolFlag{Name: "json", Usage: "print the parsed spec as JSON on stdout"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("senv check needs at least one SCRIPT")
			}
			cfg, err := loadConfig(c, nil)
			if err != nil {
				return err
			}
			var all jobspec.ErrorList
			parsed := []*jobspec.Script{}
			for _, path := range c.Args().Slice() {
				s, errs := checkScript(c, cfg, path)
				all = append(all, errs...)
				if s != nil {
					parsed = append(parsed, s)
				}
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				if err := enc.Encode(parsed); err != nil {
					return err
				}
			}
			if len(all) > 0 {
				return all
			}
			return nil
		},
	}
}

// checkScript validates one script and returns it (nil if it did not
// parse) with every error found.
func checkScript(c *cli.Context, cfg *config.Config, path string) (*jobspec.Script, jobspec.ErrorList) {
	s, err := loadScript(c, path)
	if err != nil {
		if list := jobspec.AsErrorList(err); list != nil {
			return nil, list
		}
		return nil, jobspec.ErrorList{{Pos: jobspec.Pos{File: path}, Msg: err.Error()}}
	}
	abs, _ := filepath.Abs(path)
	dir := filepath.Dir(abs)
	s.Warnings = append(s.Warnings, check.ModuleResets(s, cfg, dir)...)
	printWarnings(s.Warnings)
	if s.Shebang == "" && len(s.Header)+len(s.Payload) > 0 {
		fmt.Fprintf(stderr, "%s:1: warning: no #! line; sbatch refuses such a script (add #!/bin/bash)\n", path)
	}
	if errs := check.Spec(s, cfg, dir, path); len(errs) > 0 {
		return s, errs
	}
	if c.Bool("solve") {
		opts := wrapper.Options{Config: cfg, Dir: dir, LockFile: abs + ".lock", Logf: logger(c)}
		if _, err := wrapper.Resolve(c.Context, &s.Env, opts); err != nil {
			return s, jobspec.ErrorList{{Pos: jobspec.Pos{File: path}, Msg: err.Error(), Hint: "fix the spec, or see the resolver's message above"}}
		}
	}
	for _, w := range check.Warnings(s, cfg, dir, path) {
		fmt.Fprintln(stderr, w)
	}
	return s, nil
}

// printWarnings prints warnings on stderr, each followed by its hint.
func printWarnings(ws []jobspec.Warning) {
	for _, w := range ws {
		fmt.Fprintln(stderr, w.String())
		if w.Hint != "" {
			fmt.Fprintln(stderr, "senv: hint: "+w.Hint)
		}
	}
}
