package interactive_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/senv-hpc/senv/internal/ptytest"
	"github.com/senv-hpc/senv/internal/wheelhouse"
)

// These tests start the real senv binary and a real shell on a
// pseudo-terminal, and talk to it as a person would.

var senvBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "senv-bin-")
	if err != nil {
		panic(err)
	}
	senvBin = filepath.Join(dir, "senv")
	_, file, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", senvBin, "./cmd/senv")
	build.Dir = filepath.Join(filepath.Dir(file), "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "failed to build senv: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sandbox is one test's senv world: wheelhouse, cache, stage, HOME, TMPDIR.
type sandbox struct {
	dir, wheels, cache, stage, home, tmp string
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	dir := t.TempDir()
	wh, err := wheelhouse.BuildAll(filepath.Join(dir, "wheels"), wheelhouse.Standard)
	if err != nil {
		t.Fatal(err)
	}
	s := &sandbox{dir: dir, wheels: wh, cache: filepath.Join(dir, "cache"), stage: filepath.Join(dir, "stage"),
		home: filepath.Join(dir, "home"), tmp: filepath.Join(dir, "tmp")}
	for _, d := range []string{s.home, s.tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// env is a clean environment for senv and the shell it starts.
func (s *sandbox) env(shell string) []string {
	py := "python3"
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		py = "/usr/bin/python3"
	}
	return []string{"HOME=" + s.home, "PATH=" + os.Getenv("PATH"), "TERM=dumb", "SHELL=" + shell, "TMPDIR=" + s.tmp,
		"PIP_CONFIG_FILE=" + os.DevNull, // the machine's pip configuration is not the test's
		"SENV_CACHE_DIR=" + s.cache, "SENV_STAGE_DIR=" + s.stage, "SENV_PYTHON=" + py, "SENV_LOCK_TIMEOUT=3m"}
}

func (s *sandbox) write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.home, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lookShell finds a shell, failing in CI and skipping elsewhere when it is
// not installed.
func lookShell(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; CI must have it", name)
		}
		t.Skipf("%s is not installed (apt-get install %s); skipping (a failure when CI is set)", name, name)
	}
	return p
}

// leaseFree reports whether an exclusive lock on the lease can be taken
// now, which is what gc needs to remove the env.
func leaseFree(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// TestShellPTY: `senv shell` starts the user's shell on a terminal with the
// user's startup file read, the env active and the prompt marked; python
// imports from the staged env; the shell holds the lease until it exits,
// and exits with its own status.
func TestShellPTY(t *testing.T) {
	tests := []struct {
		shell string
		rc    string // the user's startup file, and what it holds
		body  string
	}{
		{"bash", ".bashrc", "export FROM_RC=bashrc\nPS1='rc-prompt$ '\n"},
		{"zsh", ".zshrc", "export FROM_RC=zshrc\nPS1='rc-prompt$ '\n"},
	}
	for _, tc := range tests {
		t.Run(tc.shell, func(t *testing.T) {
			shell := lookShell(t, tc.shell)
			s := newSandbox(t)
			s.write(t, tc.rc, tc.body)
			cmd := exec.Command(senvBin, "shell", "--pip", "alpha", "--find-links", s.wheels, "--no-index", "--name", "demo")
			cmd.Env, cmd.Dir = s.env(shell), s.dir
			term, err := ptytest.Start(cmd, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer term.Close()
			// the prompt: senv's mark before the user's own
			m, off, err := term.Expect(regexp.MustCompile(`\(senv:demo\|([0-9a-f]{16})\) rc-prompt\$ `), 0, 3*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			id := m[1]
			if err := term.Send(`printf 'rc=%s\n' "$FROM_RC"`); err != nil {
				t.Fatal(err)
			}
			if m, off, err = term.Expect(regexp.MustCompile(`rc=(\w+)`), off, 30*time.Second); err != nil {
				t.Fatal(err)
			} else if m[1] != strings.TrimPrefix(tc.rc, ".") {
				t.Errorf("the user's %s set FROM_RC=%q, want %q", tc.rc, m[1], strings.TrimPrefix(tc.rc, "."))
			}
			if err := term.Send(`python -c 'import alpha; print("file=" + alpha.__file__)'`); err != nil {
				t.Fatal(err)
			}
			if m, off, err = term.Expect(regexp.MustCompile(`file=(/\S+)`), off, 30*time.Second); err != nil {
				t.Fatal(err)
			} else if prefix := filepath.Join(s.stage, id) + "/"; !strings.HasPrefix(m[1], prefix) {
				t.Errorf("alpha imported from %s, want it under the staged env %s", m[1], prefix)
			}
			lease := filepath.Join(s.stage, ".senv", id+".lease")
			if leaseFree(t, lease) {
				t.Errorf("the env's lease is free while its shell runs: gc could remove the env")
			}
			if left, _ := filepath.Glob(filepath.Join(s.tmp, "senv-shell-*")); len(left) != 0 {
				t.Errorf("startup files left behind after the shell read them: %v", left)
			}
			if err := term.Send("exit 7"); err != nil {
				t.Fatal(err)
			}
			var ee *exec.ExitError
			if err := term.Wait(30 * time.Second); !errors.As(err, &ee) || ee.ExitCode() != 7 {
				t.Errorf("senv shell ended with %v, want the shell's exit status 7", err)
			}
			if !leaseFree(t, lease) {
				t.Errorf("the env's lease is still held after the shell exited")
			}
			if t.Failed() {
				t.Logf("terminal output:\n%s", term.Output()[:off])
			}
		})
	}
}

// TestShellStreams: phase lines go to stderr; the shell's own output is all
// stdout has (bash -i reads commands from a pipe too). With --quiet there
// are no senv lines at all (before, it panicked on the nil logger --quiet
// gives).
func TestShellStreams(t *testing.T) {
	cases := []struct {
		name  string
		flags []string
		lines *regexp.Regexp // what stderr must have; nil: no senv line
	}{
		{"phase lines", nil, regexp.MustCompile(`(?m)^senv: env [0-9a-f]{16} `)},
		{"quiet", []string{"--quiet"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			shell := lookShell(t, "bash")
			s := newSandbox(t)
			cmd := exec.Command(senvBin, append(tc.flags, "shell", "--pip", "gamma", "--find-links", s.wheels, "--no-index")...)
			cmd.Env, cmd.Dir = s.env(shell), s.dir
			cmd.Stdin = strings.NewReader("python -c 'import gamma; print(\"out\", gamma.__version__)'\nexit\n")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("senv %v shell: %v\n%s", tc.flags, err, stderr.String())
			}
			if strings.TrimSpace(stdout.String()) != "out 2.0" {
				t.Errorf("stdout = %q, want only the shell's output %q", stdout.String(), "out 2.0")
			}
			if tc.lines != nil && !tc.lines.MatchString(stderr.String()) {
				t.Errorf("no phase lines on stderr:\n%s", stderr.String())
			}
			if tc.lines == nil && regexp.MustCompile(`(?m)^senv: `).MatchString(stderr.String()) {
				t.Errorf("senv's lines on stderr with --quiet:\n%s", stderr.String())
			}
		})
	}
}

// TestShellRefusesOtherShells: a shell senv cannot start is a usage error
// (exit 2) before anything is built.
func TestShellRefusesOtherShells(t *testing.T) {
	for _, shell := range []string{"/usr/bin/fish", "/bin/tcsh", "/bin/dash"} {
		t.Run(filepath.Base(shell), func(t *testing.T) {
			s := newSandbox(t)
			cmd := exec.Command(senvBin, "shell", "--shell", shell, "--pip", "gamma", "--find-links", s.wheels, "--no-index")
			cmd.Env, cmd.Dir = s.env(shell), s.dir
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2:\n%s", err, out)
			}
			if !strings.Contains(string(out), "senv shell starts bash or zsh") {
				t.Errorf("output does not say which shells work:\n%s", out)
			}
			if _, err := os.Stat(s.cache); err == nil {
				t.Errorf("the cache was created: senv built before refusing the shell")
			}
		})
	}
}

// TestShellActivationFailureEndsShell: a shell whose activation failed (here:
// a module and no module system) exits 1 at once instead of giving a prompt
// that looks activated.
func TestShellActivationFailureEndsShell(t *testing.T) {
	shell := lookShell(t, "bash")
	s := newSandbox(t)
	cmd := exec.Command(senvBin, "--quiet", "shell", "--module", "nosuch/1")
	cmd.Env, cmd.Dir = append(s.env(shell), "SENV_MODULE_INIT=/nonexistent/init/sh"), s.dir
	cmd.Stdin = strings.NewReader("echo still-here\nexit 0\n")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("senv shell: %v, want exit 1", err)
	}
	if strings.Contains(string(out), "still-here") || !strings.Contains(string(out), "senv: error: no module system found") {
		t.Errorf("the shell ran on after a failed activation, or did not say why:\n%s", out)
	}
}

// TestShellRefusesUntrustedTMPDIR: the shell's startup files (which it
// runs) are not written into a TMPDIR whose entries others can rename: a
// group member could swap the private dir between senv's write and the
// shell's read. The env is built first with a good TMPDIR, so that the
// shell's own check is the one that refuses.
func TestShellRefusesUntrustedTMPDIR(t *testing.T) {
	shell := lookShell(t, "bash")
	s := newSandbox(t)
	run := func(env []string) (string, error) {
		cmd := exec.Command(senvBin, "shell", "--pip", "gamma", "--find-links", s.wheels, "--no-index")
		cmd.Env, cmd.Dir = env, s.dir
		cmd.Stdin = strings.NewReader("exit\n")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(s.env(shell)); err != nil {
		t.Fatalf("senv shell: %v\n%s", err, out)
	}
	bad := filepath.Join(s.dir, "shared-tmp")
	if err := os.Mkdir(bad, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bad, 0o777); err != nil { // writable by all, not sticky
		t.Fatal(err)
	}
	out, err := run(append(s.env(shell), "TMPDIR="+bad))
	if err == nil || !strings.Contains(out, "anyone can write to it") || !strings.Contains(out, "hint: set TMPDIR") {
		t.Errorf("senv shell with TMPDIR %s (mode 0777): %v, want a refusal with the hint:\n%s", bad, err, out)
	}
	if left, _ := os.ReadDir(bad); len(left) != 0 {
		t.Errorf("written into the untrusted TMPDIR: %v", left)
	}
}
