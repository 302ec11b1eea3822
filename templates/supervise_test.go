package templates

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSuperviseScriptChecks(t *testing.T) {
	checkSyntax(t, superviseScript)
	checkShellcheck(t, superviseScript)
}

// TestSupervise runs tools under the supervisor, as solver.Runner does (a
// process group of its own): the tool's status passes through, and when
// the supervisor gets SIGTERM (senv died) nothing the tool started lives on.
func TestSupervise(t *testing.T) {
	tests := []struct {
		name     string
		script   string // the tool; it writes its child's pid to $1
		sigterm  bool   // send the supervisor SIGTERM once the child runs
		wantCode int
	}{
		{name: "status passes through", script: `echo $$ >"$1"; exit 7`, wantCode: 7},
		{name: "SIGTERM kills the tool's children", script: `sleep 300 >/dev/null & echo $! >"$1"; wait`, sigterm: true, wantCode: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			argv := Supervise("/bin/sh", "-c", tc.script, "tool", pidFile)
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid := waitPID(t, pidFile)
			if tc.sigterm {
				if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}
			err := cmd.Wait()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d (%v)", code, tc.wantCode, err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for alive(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("pid %d, started by the tool, still runs after the supervisor ended", pid)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
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
