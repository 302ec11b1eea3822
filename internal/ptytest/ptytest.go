// Package ptytest drives a program in a pseudo-terminal for tests: start
// it, type a line, wait (with a deadline) for output that matches a
// pattern. Interactive shells behave as they do for a person only on a
// terminal: job control, prompts, startup files.
package ptytest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
)

// Term is a program running on the slave side of a pty. Its methods are
// safe for one test goroutine; the output is collected in the background.
type Term struct {
	Cmd  *exec.Cmd
	pty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{} // closed when the reader sees EOF (the program and its children closed the pty)
}

// Start starts cmd on a new pty, as the leader of a new session with the
// pty as its controlling terminal. If owner is non-nil, the pty's slave is
// chowned to that uid and gid first (a program started as another user
// reopens /dev/tty). The caller must call Close.
func Start(cmd *exec.Cmd, owner *syscall.Credential) (*Term, error) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("failed to open pty: %w", err)
	}
	defer tty.Close()
	if owner != nil {
		if err := os.Chown(tty.Name(), int(owner.Uid), int(owner.Gid)); err != nil {
			ptmx.Close()
			return nil, fmt.Errorf("failed to chown pty: %w", err)
		}
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 200}); err != nil {
		ptmx.Close()
		return nil, fmt.Errorf("failed to size pty: %w", err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty, cmd.SysProcAttr.Ctty = true, true, 0
	if owner != nil {
		cmd.SysProcAttr.Credential = owner
	}
	if err := cmd.Start(); err != nil {
		ptmx.Close()
		return nil, fmt.Errorf("failed to start %s: %w", cmd.Path, err)
	}
	t := &Term{Cmd: cmd, pty: ptmx, done: make(chan struct{})}
	go t.read()
	return t, nil
}

func (t *Term) read() {
	defer close(t.done)
	buf := make([]byte, 4096)
	for {
		n, err := t.pty.Read(buf)
		t.mu.Lock()
		t.out.Write(buf[:n])
		t.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Send types line and a newline.
func (t *Term) Send(line string) error {
	_, err := t.pty.Write([]byte(line + "\n"))
	return err
}

// Output is everything the program wrote so far.
func (t *Term) Output() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.out.String()
}

// Expect waits until the output after offset from matches re, and returns
// the match's submatches and the offset just past it, so the next Expect
// looks only at what came later. It fails after timeout, or once the
// program has closed the terminal without a match.
func (t *Term) Expect(re *regexp.Regexp, from int, timeout time.Duration) ([]string, int, error) {
	deadline := time.Now().Add(timeout)
	for {
		out := t.Output()
		if from > len(out) {
			from = len(out)
		}
		if loc := re.FindStringSubmatchIndex(out[from:]); loc != nil {
			var subs []string
			for i := 0; i < len(loc); i += 2 {
				if loc[i] < 0 {
					subs = append(subs, "")
					continue
				}
				subs = append(subs, out[from+loc[i]:from+loc[i+1]])
			}
			return subs, from + loc[1], nil
		}
		select {
		case <-t.done:
			return nil, from, fmt.Errorf("terminal closed before %q appeared; output after offset %d:\n%s", re, from, out[from:])
		default:
		}
		if time.Now().After(deadline) {
			return nil, from, fmt.Errorf("no %q after %v; output after offset %d:\n%s", re, timeout, from, out[from:])
		}
		time.Sleep(20 * time.Millisecond) // polling the buffer, not waiting for a result
	}
}

// Wait waits up to timeout for the program to exit and returns its error
// (an *exec.ExitError for a non-zero status). On timeout it kills it.
func (t *Term) Wait(timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- t.Cmd.Wait() }()
	select {
	case err := <-errc:
		return err
	case <-time.After(timeout):
		_ = t.Cmd.Process.Kill()
		<-errc
		return fmt.Errorf("%s did not exit within %v", t.Cmd.Path, timeout)
	}
}

// Close kills the program if it still runs and closes the pty.
func (t *Term) Close() {
	if t.Cmd.ProcessState == nil && t.Cmd.Process != nil {
		_ = t.Cmd.Process.Kill()
		_, _ = t.Cmd.Process.Wait()
	}
	t.pty.Close()
}
