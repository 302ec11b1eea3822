package wrapper_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// tinyFS mounts a 2 MiB tmpfs in the sandbox and returns its real path.
func (s *sandbox) tinyFS(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := filepath.Join(s.dir, "tiny")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Fatalf("failed to mount a 2 MiB tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	return real
}

// TestDiskFull: a build whose stage fills up (a real `python -m venv`,
// whose ensurepip then fails), and a pack whose cache fills up, fail with
// a message that names the full filesystem, where it is mounted and what
// is left, and a hint on what to do.
func TestDiskFull(t *testing.T) {
	tests := []struct {
		name    string
		full    string // "stage" or "cache": which one is on the tiny filesystem
		setting string // the setting the hint names
		when    string // how the free space was measured, in the message
	}{
		{name: "stage full during venv creation", full: "stage", setting: "stage_dir", when: ""},
		{name: "cache full during packing", full: "cache", setting: "cache_dir", when: " before packing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t)
			mount := s.tinyFS(t)
			if tc.full == "stage" {
				s.stage = filepath.Join(mount, "stage")
			} else {
				s.cache = filepath.Join(mount, "cache")
			}
			_, errOut, code := s.run(append(append([]string{"run"}, s.pipArgs("venv", "alpha")...), "--", "alpha-hello")...)
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, errOut)
			}
			re := regexp.MustCompile(`senv: error: failed to build env [0-9a-f]{16}: no space left on tmpfs at ` + regexp.QuoteMeta(mount) +
				` \([0-9.]+ (B|KiB|MiB) free of 2\.0 MiB` + tc.when + `; [0-9]+ inodes free\): `)
			if !re.MatchString(errOut) {
				t.Errorf("the error does not name the full filesystem and its free space (want %s):\n%s", re, errOut)
			}
			if !strings.Contains(errOut, "\nsenv: hint: free space on "+mount) || !strings.Contains(errOut, "senv gc") || !strings.Contains(errOut, tc.setting) {
				t.Errorf("no hint naming %s, senv gc and %s:\n%s", mount, tc.setting, errOut)
			}
		})
	}
}
