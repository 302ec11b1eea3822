package solver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/senv-hpc/senv/templates"
)

// Runner runs build and solve tools with the spec's modules loaded, as the
// job will. A Runner is plain data, safe to copy and to use concurrently.
//
// Nothing a tool starts outlives its run, or senv. Every tool runs under a
// supervising shell (templates.Supervise) that leads a process group of its
// own and that the kernel signals when senv dies, even by SIGKILL; the shell
// then kills the group. Cancelling the context kills the group, and so does
// the end of the run (what the tool left behind). Without this, pip and
// venv went on writing into a prefix after senv was killed, and the next
// run's rebuild failed with "directory not empty".
type Runner struct {
	Dir        string // working directory; "" for the caller's
	ModuleInit []string
	Modules    []string
	Env        []string // extra NAME=VALUE, appended to the process environment
	Unset      []string // NAMEs removed from the process environment
	// Hold are open files every tool inherits (as fd 3 and up), so that a
	// flock on one stays held until the tool and its supervisor are gone,
	// not only senv. The build passes its stage lock: the next builder then
	// waits for a killed build's tools to die instead of racing them.
	Hold []*os.File
}

// waitDelay bounds how long Wait waits for a tool's output pipes after the
// tool exited or was cancelled (a process out of the group, which a tool
// may start with setsid, may hold them open).
const waitDelay = 5 * time.Second

// command returns the supervised command; it does not start it.
func (r Runner) command(ctx context.Context, argv ...string) (*exec.Cmd, error) {
	if len(r.Modules) > 0 {
		var err error
		argv, err = templates.Activation{ModuleInit: r.ModuleInit, Modules: r.Modules}.Command(argv...)
		if err != nil {
			return nil, err
		}
	}
	argv = templates.Supervise(argv...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(withoutVars(os.Environ(), r.Unset), r.Env...)
	cmd.Dir = r.Dir
	cmd.ExtraFiles = r.Hold
	// SIGTERM, not SIGKILL: the supervisor must live to kill the group (a
	// SIGKILLed supervisor would leave the tool's children running).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	return cmd, nil
}

// withoutVars is environ without the variables named in names.
func withoutVars(environ, names []string) []string {
	if len(names) == 0 {
		return environ
	}
	var kept []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			kept = append(kept, kv)
		}
	}
	return kept
}

// runLocked runs cmd to completion on one locked OS thread, then kills
// whatever the tool left running in its process group.
//
// The kernel sends the parent-death signal when the *thread* that forked
// the child exits, not the process. Go threads seldom exit, but one does
// when a goroutine that locked it returns without unlocking, and any
// goroutine may be running on the thread that forked an unlocked child:
// that child would be killed for nothing. Holding this goroutine on its
// thread from fork to wait keeps the forking thread alive, and ours, for
// the child's whole life.
//
// The supervisor is waited for without being reaped (WNOWAIT): while it is
// a zombie its pid, which is the group's id, cannot be reused, so the kill
// of the group reaches only the tool's leftovers (which would otherwise
// write on into an env being packed, and hold a lock passed in Hold).
func runLocked(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	var info unix.Siginfo
	for unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return cmd.Wait()
}

// Run runs argv with its output streams to stdout and stderr (nil discards
// them). An error names the command line.
func (r Runner) Run(ctx context.Context, stdout, stderr io.Writer, argv ...string) error {
	cmd, err := r.command(ctx, argv...)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := runLocked(cmd); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return nil
}

// Output runs the command and returns its stdout; a failure's error holds
// the command's stderr.
func (r Runner) Output(ctx context.Context, argv ...string) ([]byte, error) {
	cmd, err := r.command(ctx, argv...)
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := runLocked(cmd); err != nil {
		if msg := indent(stderr.String()); msg != "" {
			return stdout.Bytes(), fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, msg)
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return stdout.Bytes(), nil
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
