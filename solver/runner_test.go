package solver

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A tool that starts a long-lived child, writes the child's pid to $1 and
// waits: the child is what must not outlive the run.
const spawner = `sleep 300 >/dev/null 2>&1 & echo $! >"$1"; wait`

// TestRunnerKillsGroup: no process a tool started outlives its run: not
// when the tool exits, and not when the run ends early, by context cancel
// or because the process that ran the tool was SIGKILLed. The SIGKILL case runs the Runner in a child test
// process (helperRun) and SIGKILLs that process alone, not its group.
func TestRunnerKillsGroup(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, pidFile string) // runs the tool, ends the run early
	}{
		{name: "context cancel", end: func(t *testing.T, pidFile string) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- Runner{}.Run(ctx, nil, nil, "/bin/sh", "-c", spawner, "tool", pidFile) }()
			waitPID(t, pidFile)
			cancel()
			if err := <-done; err == nil {
				t.Error("a cancelled run returned no error")
			}
		}},
		{name: "the tool exits and leaves its child", end: func(t *testing.T, pidFile string) {
			script := `sleep 300 >/dev/null 2>&1 & echo $! >"$1"`
			if err := (Runner{}).Run(context.Background(), nil, nil, "/bin/sh", "-c", script, "tool", pidFile); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "SIGKILL of the runner", end: func(t *testing.T, pidFile string) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRun$")
			cmd.Env = append(os.Environ(), "SENV_HELPER_PIDFILE="+pidFile)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitPID(t, pidFile)
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			tc.end(t, pidFile)
			pid := waitPID(t, pidFile)
			deadline := time.Now().Add(10 * time.Second)
			for alive(pid) {
				if time.Now().After(deadline) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("pid %d, started by the tool, outlived the run", pid)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestHelperRun is no test of its own: TestRunnerKillsGroup starts the
// test binary with -test.run=^TestHelperRun$ as the runner process that it
// SIGKILLs. In a normal run it returns at once.
func TestHelperRun(t *testing.T) {
	if pidFile := os.Getenv("SENV_HELPER_PIDFILE"); pidFile != "" {
		helperRun(pidFile)
		os.Exit(3)
	}
}

// helperRun runs the spawner tool; it returns only if the tool ended
// before the process was killed.
func helperRun(pidFile string) {
	_ = Runner{}.Run(context.Background(), nil, nil, "/bin/sh", "-c", spawner, "tool", pidFile)
}

// waitPID polls for the pid the tool writes to path.
func waitPID(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tool wrote no pid to %s", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// alive reports whether pid runs (exists and is not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestRunnerModules: with modules, the tool runs after `module load`, under
// the supervisor, and its output and status come back. The module system
// is a stand-in (Lmod itself is driven in the e2e tests).
func TestRunnerModules(t *testing.T) {
	dir := t.TempDir()
	initScript := filepath.Join(dir, "init.sh")
	if err := os.WriteFile(initScript, []byte(`module() { echo "$*" >>"$MODULE_LOG"; }`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "log")
	r := Runner{ModuleInit: []string{initScript}, Modules: []string{"gcc/12"}, Env: []string{"MODULE_LOG=" + log}}
	out, err := r.Output(context.Background(), "/bin/sh", "-c", `echo "out $1"; exit 0`, "tool", "a b")
	if err != nil || string(out) != "out a b\n" {
		t.Errorf("Output = %q, %v", out, err)
	}
	if b, _ := os.ReadFile(log); string(b) != "load gcc/12\n" {
		t.Errorf("module calls %q, want one load of gcc/12", b)
	}
	if _, err := r.Output(context.Background(), "/bin/sh", "-c", "echo oops >&2; exit 3"); err == nil ||
		!strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "    oops") {
		t.Errorf("a failing tool: %v, want its status and stderr", err)
	}
}

// TestRunnerUnset: a variable named in Unset is not in the tool's
// environment, the others are, and Env still adds its own.
func TestRunnerUnset(t *testing.T) {
	t.Setenv("SENV_TEST_DROP", "1")
	t.Setenv("SENV_TEST_KEEP", "2")
	var out bytes.Buffer
	r := Runner{Unset: []string{"SENV_TEST_DROP"}, Env: []string{"SENV_TEST_ADD=3"}}
	if err := r.Run(context.Background(), &out, &out, "sh", "-c", `echo "${SENV_TEST_DROP-unset} $SENV_TEST_KEEP $SENV_TEST_ADD"`); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != "unset 2 3" {
		t.Errorf("the tool saw %q, want \"unset 2 3\"", got)
	}
}
