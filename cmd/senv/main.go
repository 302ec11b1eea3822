// Command senv is a Slurm job wrapper and sbatch preprocessor: it reads #ENV
// directives beside #SBATCH ones, builds the Python environment once, caches
// it as one file, stages it on node-local disk and runs the job in it.
//
// This package is flags and wiring only. It is the only one that imports
// urfave/cli and the only one that calls os.Exit, in main, after mapping
// errors to exit codes in exitCode.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/wrapper"
)

// Exit codes (SPEC §5).
const (
	exitOK    = 0
	exitEnv   = 1 // the environment could not be made
	exitUsage = 2 // usage or spec error
)

// version and commit are stamped by `make build` with -ldflags
// "-X main.version=... -X main.commit=..."; versionLine falls back on the
// commit the go command records when commit is empty.
var (
	version = "0.1.0-dev"
	commit  = ""
)

// stdout (data) and stderr (diagnostics) are variables so tests can capture
// them.
var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
)

// usageError is a command-line mistake (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// rawArgs are the arguments of this invocation, for afterDashDash.
var rawArgs []string

// unknownCommand is set by CommandNotFound, which cannot return an error.
var unknownCommand bool

var errUnknownCommand = errors.New("unknown command")

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func main() {
	os.Exit(run(os.Args))
}

// run runs the app and maps its error to an exit code, printing it.
func run(args []string) int {
	rawArgs = args
	err := newApp().Run(args)
	if errors.Is(err, errUnknownCommand) {
		return exitUsage
	}
	if err == nil {
		return exitOK
	}
	return report(err)
}

// report prints err the way a user can act on it and returns its exit code.
func report(err error) int {
	lines, code := errorLines(err)
	for _, l := range lines {
		fmt.Fprintln(stderr, l)
	}
	return code
}

// errorLines renders err as the lines a user sees: spec errors as
// FILE:LINE: ... with "senv: hint:" lines, others as "senv: error: ..."
// (a line of theirs that starts "hint: " as "senv: hint: ..."), and returns
// its exit code.
func errorLines(err error) ([]string, int) {
	var lines []string
	if list := jobspec.AsErrorList(err); list != nil {
		for _, e := range list {
			lines = append(lines, e.Error())
			if e.Hint != "" {
				lines = append(lines, "senv: hint: "+e.Hint)
			}
		}
		return lines, exitUsage
	}
	// only senv's own cli.Exit: a wrapped *exec.ExitError has an ExitCode
	// too, but a tool's status is not senv's
	if exitErr, ok := err.(cli.ExitCoder); ok {
		for _, line := range strings.Split(err.Error(), "\n") {
			if line != "" {
				lines = append(lines, "senv: error: "+line)
			}
		}
		return lines, exitErr.ExitCode()
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		switch {
		case strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "    "):
			lines = append(lines, "senv:"+line)
		case strings.HasPrefix(line, "hint: "):
			lines = append(lines, "senv: "+line)
		default:
			lines = append(lines, "senv: error: "+line)
		}
	}
	return lines, exitCode(err)
}

// exitCode is the one place that maps errors to exit codes.
func exitCode(err error) int {
	var spec *wrapper.SpecError
	var usage usageError
	switch {
	case errors.As(err, &spec), errors.As(err, &usage), jobspec.AsErrorList(err) != nil:
		return exitUsage
	}
	return exitEnv
}

// logf prints one diagnostic line on stderr, prefixed "senv: ".
func logf(format string, args ...any) {
	fmt.Fprintf(stderr, "senv: "+format+"\n", args...)
}

func newApp() *cli.App {
	app := &cli.App{
		Name:                      "senv",
		Usage:                     "Python environments for Slurm jobs: solved once, built once, cached as one file, staged on node-local disk",
		Version:                   version,
		HideVersion:               true,
		Writer:                    stdout,
		ErrWriter:                 stderr,
		DisableSliceFlagSeparator: true,
		// errors, cli.Exit ones too, come back to run, which maps them:
		// urfave/cli's default handler would os.Exit on a cli.ExitCoder
		ExitErrHandler: func(*cli.Context, error) {},
		Flags:          configFlags(),
		Description: `Write what a job needs as #ENV lines beside its #SBATCH lines:

   #!/bin/bash
   #SBATCH --gres=gpu:1
   #ENV module cuda/12.1
   #ENV python 3.11
   #ENV pip torch numpy
   python train.py

then "senv check train.sh", "senv sbatch train.sh" or "senv run train.sh".
Envs are looked for on this node, then in the read-only site caches
(site_cache; admins publish with "senv --cache-dir DIR build"), then in
your cache_dir, and built into cache_dir only when none has them.
Diagnostics go to stderr prefixed "senv:"; stdout carries only data.
Exit codes: 0 success, 1 the environment could not be made, 2 usage or spec
error; after running a payload, the payload's own status.`,
		Commands: []*cli.Command{
			runCommand(), activateCommand(), renderCommand(), checkCommand(), sbatchCommand(),
			buildCommand(), lockCommand(), stageCommand(), lsCommand(), rmCommand(), gcCommand(),
			shellCommand(), kernelCommand(),
			taskPrologCommand(), prologCommand(), epilogCommand(), mountCommand(), umountCommand(), doctorCommand(), versionCommand(),
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err.Error()} },
		CommandNotFound: func(c *cli.Context, name string) {
			names := []string{}
			for _, cmd := range c.App.Commands {
				names = append(names, cmd.Name)
			}
			msg := fmt.Sprintf("unknown command %q", name)
			if near := jobspec.Nearest(name, names); near != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", near)
			}
			fmt.Fprintln(stderr, "senv: error: "+msg)
			unknownCommand = true
		},
		After: func(*cli.Context) error {
			if unknownCommand {
				return errUnknownCommand
			}
			return nil
		},
	}
	for _, cmd := range app.Commands {
		name := cmd.Name
		// a usage mistake gets one line and a pointer to --help, not the whole help
		cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return usagef("%v (see senv %s --help)", err, name)
		}
		if !cmd.SkipFlagParsing {
			cmd.Flags = append(cmd.Flags, &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only errors"})
		}
	}
	return app
}
