package envs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestFSInfoLow(t *testing.T) {
	const mib, gib = 1 << 20, 1 << 30
	tests := []struct {
		name string
		fi   FSInfo
		want bool
	}{
		{"plenty", FSInfo{Avail: 10 * gib, Size: 100 * gib, Ffree: 1e6, Files: 2e6}, false},
		{"little space left", FSInfo{Avail: 10 * mib, Size: 100 * gib, Ffree: 1e6, Files: 2e6}, true},
		{"small but mostly empty", FSInfo{Avail: 40 * mib, Size: 50 * mib, Ffree: 1e4, Files: 1e4}, false},
		{"tiny and full", FSInfo{Avail: 4096, Size: 2 * mib, Ffree: 1e4, Files: 1e4}, true},
		{"out of inodes", FSInfo{Avail: 10 * gib, Size: 100 * gib, Ffree: 500, Files: 2e6}, true},
		{"inodes not counted", FSInfo{Avail: 10 * gib, Size: 100 * gib}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.fi.low(); got != tc.want {
				t.Errorf("low() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSpaceReason(t *testing.T) {
	enospc := &os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}
	tests := []struct {
		name string
		err  error
		out  string
		want string
	}{
		{"ENOSPC in the chain", fmt.Errorf("failed to publish env x: %w", enospc), "", "no space left"},
		{"pip traceback", errors.New("exit status 1"), "OSError: [Errno 28] No space left on device: '/s/x'", "no space left"},
		{"uv", errors.New("exit status 2"), "error: failed to write to file `/s/x`: No space left on device (os error 28)", "no space left"},
		{"quota", errors.New("exit status 1"), "OSError: [Errno 122] Disk quota exceeded", "disk quota exceeded"},
		{"another failure", errors.New("exit status 1"), "ERROR: No matching distribution found for alpha", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := spaceReason(tc.err, tc.out); got != tc.want {
				t.Errorf("spaceReason = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/plain`: "/plain", `/a\040b`: "/a b", `/tab\011x`: "/tab\tx", `/back\134slash`: `/back\slash`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStatFSMissingPath: a path that is not there (a failed build removed
// it) is measured on its nearest parent, and named by its real mount.
func TestStatFSMissingPath(t *testing.T) {
	dir := t.TempDir()
	fi, err := StatFS(filepath.Join(dir, "gone", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(dir)
	if fi.Size == 0 || fi.Dev == "?" || !within(real, fi.Mount) {
		t.Errorf("StatFS of a missing path under %s: %+v", real, fi)
	}
}

// TestBuildSpaceError: a failure is reported as a full filesystem only
// when the tool said so or a filesystem is full; the message names it and
// keeps the step's error.
func TestBuildSpaceError(t *testing.T) {
	step := errors.New("failed to create venv: python3: exit status 1")
	if se := buildSpaceError(step, "ERROR: No matching distribution", t.TempDir()); se != nil {
		t.Errorf("an unrelated failure on a roomy filesystem was blamed on space: %v", se)
	}
	se := buildSpaceError(step, "[Errno 28] No space left on device", t.TempDir())
	if se == nil {
		t.Fatal("ENOSPC in the output was not reported")
	}
	msg := se.Error()
	if !strings.HasPrefix(msg, "no space left on ") || !strings.Contains(msg, " free of ") || !strings.HasSuffix(msg, step.Error()) || !errors.Is(se, step) {
		t.Errorf("message %q", msg)
	}
	if !strings.Contains(se.Hint(), "senv gc") || !strings.Contains(se.Hint(), "stage_dir") {
		t.Errorf("hint %q", se.Hint())
	}
}
