package envs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestGroupSharedCache: in a cache dir its group may write (a lab's
// `chmod 2770` dir), the layout dirs and the build locks senv creates are
// group-writable and the dirs setgid, whatever the umask trims, so a second
// member can create and open them; a private cache dir keeps the modes it
// always had. (Two real users sharing one: see docs/site-install.md; here
// the modes that make it work.)
func TestGroupSharedCache(t *testing.T) {
	trust, err := NewTrust([]string{fmt.Sprintf("group:%d", os.Getgid())}) // the lab's group
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		mode   fs.FileMode
		shared bool // group-writable dirs and locks, setgid dirs
	}{
		{"lab cache 2770", 0o770 | fs.ModeSetgid, true},
		{"private cache 0755", 0o755, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "senv")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.mode); err != nil {
				t.Fatal(err)
			}
			c, err := OpenCache(dir, trust)
			if err != nil {
				t.Fatal(err)
			}
			l, err := c.BuildLock("0123456789abcdef", time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			l.Release()
			for _, sub := range []string{"", "envs", "locks", "build", "tmp"} {
				info, err := os.Stat(filepath.Join(c.Root, sub))
				if err != nil {
					t.Fatal(err)
				}
				if info.Mode().Perm()&0o020 != 0 != tc.shared || info.Mode()&fs.ModeSetgid != 0 != tc.shared {
					t.Errorf("v1/%s: mode %v, want group write and setgid: %v", sub, info.Mode(), tc.shared)
				}
			}
			info, err := os.Stat(filepath.Join(c.Root, "build", "0123456789abcdef.lock"))
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm()&0o020 != 0 != tc.shared {
				t.Errorf("build lock: mode %v, want group write: %v", info.Mode(), tc.shared)
			}
		})
	}
}
