package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/templates"
	"github.com/senv-hpc/senv/wrapper"
)

func renderCommand() *cli.Command {
	return &cli.Command{
		Name:      "render",
		Usage:     "print the script as it will be submitted; builds nothing",
		ArgsUsage: "SCRIPT",
		Description: `Prints SCRIPT's header byte for byte, then the block senv injects, then the
payload byte for byte. A script with no #ENV directives (and no flags) comes
out unchanged.

Examples:
   senv render train.sh
   senv render --pip scipy train.sh | sbatch`,
		Flags: envFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("senv render needs exactly one SCRIPT")
			}
			path := c.Args().First()
			s, err := loadScript(c, path)
			if err != nil {
				return err
			}
			out, err := renderScript(s, path, flagDirectives(c), "")
			if err != nil {
				return err
			}
			_, err = c.App.Writer.Write(out)
			return err
		},
	}
}

// renderScript injects the activation call after s's header. flags are the
// #ENV flags given on the command line, passed on to the job; envID pins the
// env senv sbatch built.
func renderScript(s *jobspec.Script, path string, flags []jobspec.Directive, envID string) ([]byte, error) {
	if s.Env.Empty() {
		return append(append([]byte(nil), s.Header...), s.Payload...), nil
	}
	if !wrapper.IsShellScript(s.Shebang) || (s.Shebang == "" && strings.HasSuffix(path, ".py")) {
		return nil, usagef("%s: cannot inject into a %q script; run it with `senv run %s` from a shell script, or use `#!/bin/bash`", path, s.Shebang, path)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("failed to find the senv binary: %w", err)
	}
	abs, _ := filepath.Abs(path)
	cmd := []string{self, "activate", "--shell", "sh", "--dir", filepath.Dir(abs), "--lock-file", abs + ".lock"}
	if envID != "" {
		cmd = append(cmd, "--env-id", envID)
	}
	cmd = append(cmd, flagArgs(flags)...)
	block, err := templates.Inject{Version: version, Command: cmd}.Render()
	if err != nil {
		return nil, err
	}
	return templates.Script(s.Header, block, s.Payload), nil
}

// flagArgs turns #ENV flags back into command-line arguments.
func flagArgs(flags []jobspec.Directive) []string {
	var args []string
	for _, d := range flags {
		if len(d.Values) == 0 {
			args = append(args, "--"+d.Key)
		}
		for _, v := range d.Values {
			args = append(args, "--"+d.Key, v)
		}
	}
	return args
}
