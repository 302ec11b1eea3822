package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/solver"
	"github.com/senv-hpc/senv/templates"
	"github.com/senv-hpc/senv/wrapper"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "validate scripts: directives, referenced files, module names, and the solve with --solve",
		ArgsUsage: "SCRIPT...",
		Description: `Exits 0 when every script is valid, 2 otherwise. Each error is printed as
FILE:LINE: #ENV KEY: message, followed by a "senv: hint:" line where one helps.

Examples:
   senv check train.sh
   senv check --solve jobs/*.sh
   senv check --json train.sh`,
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
	for _, w := range s.Warnings {
		fmt.Fprintln(stderr, w.String())
	}
	if s.Shebang == "" && len(s.Header)+len(s.Payload) > 0 {
		fmt.Fprintf(stderr, "%s:1: warning: no #! line; sbatch refuses such a script (add #!/bin/bash)\n", path)
	}
	abs, _ := filepath.Abs(path)
	dir := filepath.Dir(abs)
	if errs := validate(s, cfg, dir, path); len(errs) > 0 {
		return s, errs
	}
	if c.Bool("solve") {
		opts := wrapper.Options{Config: cfg, Dir: dir, LockFile: abs + ".lock", Logf: logger(c)}
		if _, err := wrapper.Resolve(c.Context, &s.Env, opts); err != nil {
			return s, jobspec.ErrorList{{Pos: jobspec.Pos{File: path}, Msg: err.Error(), Hint: "fix the spec, or see the resolver's message above"}}
		}
	}
	if spec, err := solver.Canonicalize(&s.Env, dir, cfg); err == nil {
		warnMissingTools(spec.Manager, cfg, path)
	}
	return s, nil
}

// validate runs every check that needs no solve: referenced files, module
// names, and the files' contents (requirements, pyproject, environment.yml).
func validate(s *jobspec.Script, cfg *config.Config, dir, path string) jobspec.ErrorList {
	errs := checkFiles(s, dir)
	errs = append(errs, checkModules(s, cfg)...)
	if len(errs) > 0 {
		return errs
	}
	if _, err := solver.Canonicalize(&s.Env, dir, cfg); err != nil {
		if list := jobspec.AsErrorList(err); list != nil {
			for _, e := range list {
				atDirective(s, e, dir, path)
			}
			return list
		}
		return jobspec.ErrorList{{Pos: jobspec.Pos{File: path}, Msg: err.Error()}}
	}
	return nil
}

// atDirective moves an error found in a referenced file (a requirements
// file, pyproject.toml, environment.yml) to the script line that names it,
// keeping the file's own position in the message: the user starts from the
// script.
func atDirective(s *jobspec.Script, e *jobspec.Error, dir, path string) {
	if e.Pos.File == dir { // about the spec as a whole
		e.Pos = jobspec.Pos{File: path}
	}
	if e.Pos.File == path || e.Key == "" {
		return
	}
	for _, d := range s.Directives {
		if d.Key == e.Key || (e.Key == "requirements" && d.Key == "file") {
			where := e.Pos
			if rel, err := filepath.Rel(dir, where.File); err == nil {
				where.File = rel
			}
			e.Msg = where.String() + ": " + e.Msg
			e.Pos = d.Pos
			return
		}
	}
}

// checkFiles reports referenced files that do not exist, at their
// directive's line.
func checkFiles(s *jobspec.Script, dir string) jobspec.ErrorList {
	var errs jobspec.ErrorList
	for _, d := range s.Directives {
		var paths []string
		switch d.Key {
		case "requirements", "file":
			paths = d.Values
		case "find-links":
			for _, v := range d.Values {
				if !strings.Contains(v, "://") {
					paths = append(paths, v)
				}
			}
		case "use":
			if !strings.HasPrefix(d.Values[0], "conda:") {
				paths = d.Values
			}
		}
		for _, p := range paths {
			full := p
			if !filepath.IsAbs(p) {
				full = filepath.Join(dir, p)
			}
			if _, err := os.Stat(full); err != nil {
				errs = append(errs, &jobspec.Error{Pos: d.Pos, Key: d.Key, Msg: fmt.Sprintf("%s: no such file or directory", p),
					Hint: "paths are relative to the script's directory (" + dir + ")"})
			}
		}
	}
	return errs
}

// checkModules asks the module system, where there is one, whether every
// module exists.
func checkModules(s *jobspec.Script, cfg *config.Config) jobspec.ErrorList {
	var mods []jobspec.Directive
	for _, d := range s.Directives {
		if d.Key == "module" {
			mods = append(mods, d)
		}
	}
	if len(mods) == 0 || !moduleSystem(cfg) {
		return nil
	}
	var errs jobspec.ErrorList
	for _, d := range mods {
		for _, m := range d.Values {
			if !moduleAvailable(cfg, m) {
				errs = append(errs, &jobspec.Error{Pos: d.Pos, Key: "module", Msg: fmt.Sprintf("%s: no such module", m),
					Hint: "see `module avail` or `module spider " + strings.Split(m, "/")[0] + "`"})
			}
		}
	}
	return errs
}

// moduleSystem reports whether a module system init script is readable.
func moduleSystem(cfg *config.Config) bool {
	for _, p := range cfg.ModuleInit {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

func moduleAvailable(cfg *config.Config, name string) bool {
	block, err := templates.Activation{ModuleInit: cfg.ModuleInit, Modules: []string{name}}.Render()
	if err != nil {
		return false
	}
	cmd := exec.Command("/bin/sh", "-c", block)
	return cmd.Run() == nil
}

// warnMissingTools warns when the builder the spec needs is not on this
// host: an error only when building (SPEC §5).
func warnMissingTools(m string, cfg *config.Config, path string) {
	bin := map[string]string{"uv": cfg.UV, "conda": cfg.Conda, "mamba": cfg.Mamba, "micromamba": cfg.Micromamba}[m]
	if bin == "" {
		return
	}
	if _, err := exec.LookPath(bin); err != nil {
		fmt.Fprintf(stderr, "%s: warning: manager %s: %s not found on this host; building here will fail\n", path, m, bin)
	}
}
