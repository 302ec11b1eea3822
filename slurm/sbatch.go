package slurm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/senv-hpc/senv/jobspec"
)

// SbatchArgs is a `senv sbatch` command line taken apart: senv's own flags
// (the #ENV keys as --KEY VALUE, --build-at) and everything sbatch gets.
type SbatchArgs struct {
	Env     []jobspec.Directive // senv's #ENV flags, in order
	BuildAt string              // --build-at, "" if not given
	Sbatch  []string            // options for sbatch, in order
	Wrap    string              // --wrap CMD
	HasWrap bool                // --wrap was given (CMD may be "")
	Script  string              // the script, "" with --wrap
	Args    []string            // the script's arguments
	wait    bool                // -W or --wait, alone or in a group such as -HW
}

// Waits reports whether sbatch is told to wait for the job to end (-W,
// --wait, or W in a group of short options such as -HW), so that it
// returns only after the job ran.
func (a *SbatchArgs) Waits() bool { return a.wait }

// UsageError is a command line ParseSbatchArgs cannot take apart; callers
// report it as a usage error (exit 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

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

// sbatchShortNoArg are the letters of sbatch's short options that take no
// value (its getopt string, the same from Slurm 22.05 to 26.05). -k's value
// is optional and only ever attached (-kVALUE); every other letter takes
// one.
const sbatchShortNoArg = "HOQVWhsv"

// shortGroup reads a group of short options, such as HW of -HW or Hp of
// -Hp debug, as getopt does: whether it holds -W, and whether its last
// option takes the next argument as its value.
func shortGroup(group string) (wait, takesNext bool) {
	for i := 0; i < len(group); i++ {
		c := group[i]
		switch {
		case strings.IndexByte(sbatchShortNoArg, c) >= 0:
			wait = wait || c == 'W'
		case c == 'k':
			return wait, false // the rest is its value
		default:
			return wait, i == len(group)-1 // the rest is its value, or the next argument
		}
	}
	return wait, false
}

// ParseSbatchArgs separates senv's flags from sbatch's and finds the script:
// the first argument that is not an option or an option's value; what
// follows it is the script's. It is pure (no files, no environment).
func ParseSbatchArgs(args []string) (*SbatchArgs, error) {
	a := &SbatchArgs{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name, value, hasValue := strings.Cut(arg, "=")
		next := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", &UsageError{arg + " needs a value"}
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
			a.Env = append(a.Env, d)
		case name == "--build-at":
			v, err := next()
			if err != nil {
				return nil, err
			}
			a.BuildAt = v
		case name == "--wrap":
			v, err := next()
			if err != nil {
				return nil, err
			}
			a.Wrap, a.HasWrap = v, true
		case strings.HasPrefix(arg, "-") && len(arg) > 1:
			a.Sbatch = append(a.Sbatch, arg)
			takesValue := !sbatchNoArg[name] && !hasValue && (strings.HasPrefix(arg, "--") || len(arg) == 2)
			switch {
			case name == "--wait" || arg == "-W":
				a.wait = true
			case !strings.HasPrefix(arg, "--") && len(arg) > 2:
				var wait bool
				wait, takesValue = shortGroup(arg[1:])
				a.wait = a.wait || wait
			}
			if takesValue && i+1 < len(args) {
				i++
				a.Sbatch = append(a.Sbatch, args[i])
			}
		default:
			a.Script, a.Args = arg, args[i+1:]
			return a, nil
		}
	}
	return a, nil
}

// ExitError is sbatch's own failure (it printed why): Code is its exit status.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("sbatch exited with status %d", e.Code) }

// Submit runs the real sbatch on script with a's sbatch options and the
// script's arguments, its output passed through as it is (--parsable too).
// When sbatch fails it returns an *ExitError.
func Submit(ctx context.Context, a *SbatchArgs, script string, stdout, stderr io.Writer) error {
	args := append(append(append([]string(nil), a.Sbatch...), script), a.Args...)
	cmd := exec.CommandContext(ctx, "sbatch", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return &ExitError{Code: ee.ExitCode()}
		}
		return fmt.Errorf("failed to run sbatch: %w", err)
	}
	return nil
}
