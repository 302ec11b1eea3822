package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/templates"
	"github.com/senv-hpc/senv/wrapper"
)

func activateCommand() *cli.Command {
	return &cli.Command{
		Name:  "activate",
		Usage: "ensure and stage the environment, then print its activation for eval",
		Description: `Prints code that activates the environment: module system init, module
loads, the env's activation and the setenv exports. The injected block of a
rendered script runs this; you can too:

   eval "$(senv activate --module cuda/12.1 --pip numpy)"
   senv activate --format json --pip numpy
   senv activate --script train.sh --format env`,
		Flags: append(envFlags(),
			&cli.StringFlag{Name: "shell", Value: "sh", Usage: "shell to print for: sh or bash (both get POSIX sh)"},
			&cli.StringFlag{Name: "format", Usage: "sh, bash, env (NAME=value lines), json, or task-prolog"},
			&cli.StringFlag{Name: "script", Usage: "read #ENV directives from this script's header"},
			&cli.StringFlag{Name: "dir", Usage: "directory relative paths are relative to (default: the script's, else the current one)"},
			&cli.StringFlag{Name: "lock-file", Usage: "lock file to honour (default: SCRIPT.lock)"},
			&cli.StringFlag{Name: "env-id", Usage: "use this cached env if present (set by senv sbatch)"},
		),
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if format == "" {
				format = c.String("shell")
			}
			switch format {
			case "sh", "bash", "env", "json", "task-prolog":
			default:
				return usagef("unknown format %q (sh, bash, env, json, task-prolog)", format)
			}
			p, err := prepareFromFlags(c)
			if err != nil {
				return err
			}
			return printActivation(p, c, format)
		},
	}
}

// activationSpec reads the spec from --script (if any) and the #ENV flags.
func activationSpec(c *cli.Context) (*jobspec.Script, wrapper.Options, error) {
	opts := wrapper.Options{Logf: logger(c), EnvID: c.String("env-id")}
	if opts.EnvID != "" && !envs.ValidID(opts.EnvID) {
		return nil, opts, usagef("--env-id %q is not an env ID (16 lowercase hex digits; see senv ls)", opts.EnvID)
	}
	var script *jobspec.Script
	var err error
	if path := c.String("script"); path != "" {
		if script, err = loadScript(c, path); err != nil {
			return nil, opts, err
		}
		abs, _ := filepath.Abs(path)
		opts.Dir, opts.LockFile = filepath.Dir(abs), abs+".lock"
	} else if script, err = jobspec.FromFlags(flagDirectives(c)); err != nil {
		return nil, opts, err
	}
	if opts.Dir == "" {
		opts.Dir, _ = os.Getwd()
	}
	if d := c.String("dir"); d != "" {
		opts.Dir = d
	}
	if l := c.String("lock-file"); l != "" {
		opts.LockFile = l
	}
	return script, opts, nil
}

func printActivation(p *wrapper.Prepared, c *cli.Context, format string) error {
	out := c.App.Writer
	if format == "sh" || format == "bash" {
		block, err := p.Activation.Render()
		if err != nil {
			return err
		}
		_, err = fmt.Fprint(out, block)
		return err
	}
	changed, removed, err := p.EnvChanges(c.Context)
	if err != nil {
		return err
	}
	switch format {
	case "json":
		data, err := wrapper.JSONChanges(changed, removed)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, string(data))
		return err
	case "task-prolog":
		lines, warnings := wrapper.TaskPrologLines(changed, removed)
		for _, w := range warnings {
			logf("warning: %s", w)
		}
		_, err := fmt.Fprintln(out, strings.Join(lines, "\n"))
		return err
	default: // env: NAME=value, shell-quoted, one per line
		lines, _ := wrapper.TaskPrologLines(changed, nil)
		for _, l := range lines {
			name, value, _ := strings.Cut(strings.TrimPrefix(l, "export "), "=")
			q, err := templates.Quote(value)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s=%s\n", name, q)
		}
		return nil
	}
}

// prepareFromFlags makes the env that the flags (and --script) ask for
// ready here: config, spec, ensure and stage.
func prepareFromFlags(c *cli.Context) (*wrapper.Prepared, error) {
	cfg, err := loadConfig(c, nil)
	if err != nil {
		return nil, err
	}
	script, opts, err := activationSpec(c)
	if err != nil {
		return nil, err
	}
	opts.Config = cfg
	return prepareHere(c, script, opts)
}
