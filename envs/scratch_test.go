package envs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSweepScratch: the sweep removes the scratch dirs of owners that are
// gone, and nothing else: not a live owner's, not another user's, not what
// a symlink of a scratch name points at, not dirs of other names.
func TestSweepScratch(t *testing.T) {
	tests := []struct {
		name     string
		make     func(t *testing.T, tmp string) string // returns the path that is checked
		wantGone bool
	}{
		{name: "owner gone", wantGone: true, make: func(t *testing.T, tmp string) string {
			s := newScratch(t, "build")
			s.f.Close() // what a SIGKILL does to the lock
			return s.Path
		}},
		{name: "owner alive", make: func(t *testing.T, tmp string) string {
			s := newScratch(t, "solve")
			t.Cleanup(s.Remove)
			return s.Path
		}},
		{name: "symlink to a dir", make: func(t *testing.T, tmp string) string {
			target := filepath.Join(t.TempDir(), "victim")
			mkdir(t, target)
			if err := os.Symlink(target, filepath.Join(tmp, "senv-build-planted")); err != nil {
				t.Fatal(err)
			}
			return target
		}},
		{name: "another user's", make: func(t *testing.T, tmp string) string {
			if os.Getuid() != 0 {
				t.Skip("needs root to make a dir of another user")
			}
			dir := filepath.Join(tmp, "senv-solve-other")
			mkdir(t, dir)
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
		{name: "image owner gone", wantGone: true, make: func(t *testing.T, tmp string) string {
			s := newScratch(t, "image")
			s.f.Close()
			return s.Path
		}},
		{name: "not yet locked, new", make: func(t *testing.T, tmp string) string {
			dir := filepath.Join(tmp, newPrefix+"build-123")
			mkdir(t, dir)
			return dir
		}},
		{name: "not yet locked, maker died", wantGone: true, make: func(t *testing.T, tmp string) string {
			dir := filepath.Join(tmp, newPrefix+"build-456")
			mkdir(t, dir)
			old := time.Now().Add(-2 * newGrace)
			if err := os.Chtimes(dir, old, old); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
		{name: "not a scratch name", make: func(t *testing.T, tmp string) string {
			dir := filepath.Join(tmp, "senv-sbatch-123")
			mkdir(t, dir)
			return dir
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			path := tc.make(t, tmp)
			SweepScratch()
			_, err := os.Stat(path)
			if gone := os.IsNotExist(err); gone != tc.wantGone {
				t.Errorf("%s gone after the sweep: %v, want %v", path, gone, tc.wantGone)
			}
		})
	}
}

// TestNewScratchRacesSweeps: scratch dirs made while other goroutines
// sweep are never taken from their makers. Before the dir was locked under
// a name the sweep skips, a sweeper could lock and remove a dir between its
// Mkdir and Flock; six concurrent builds in one test gave up that way
// ("removed by another senv three times").
func TestNewScratchRacesSweeps(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	stop := make(chan struct{})
	var sweepers sync.WaitGroup
	for i := 0; i < 2; i++ {
		sweepers.Add(1)
		go func() {
			defer sweepers.Done()
			for {
				select {
				case <-stop:
					return
				default:
					SweepScratch()
				}
			}
		}()
	}
	const makers, rounds = 4, 200
	errs := make(chan error, makers*rounds)
	var wg sync.WaitGroup
	for i := 0; i < makers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				s, err := NewScratch("build", nil)
				if err != nil {
					errs <- err
					continue
				}
				// the dir must survive the sweeps while its maker holds it
				if err := os.WriteFile(filepath.Join(s.Path, "f"), nil, 0o600); err != nil {
					errs <- fmt.Errorf("scratch dir taken from its maker: %w", err)
				}
				s.Remove()
			}
		}()
	}
	wg.Wait()
	close(stop)
	sweepers.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 3 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Errorf("%d of %d scratch dirs failed", n, makers*rounds)
	}
	if left, _ := os.ReadDir(os.Getenv("TMPDIR")); len(left) != 0 {
		t.Errorf("left in TMPDIR: %v", left)
	}
}

// TestNewScratchChecksTMPDIR: a TMPDIR whose entries someone untrusted
// can rename (a group-writable dir without the sticky bit, a dir of
// another user) is refused with a hint, and nothing is made in it; a
// private dir, or a sticky one like /tmp, is used.
func TestNewScratchChecksTMPDIR(t *testing.T) {
	cases := []struct {
		name      string
		mode      os.FileMode
		uid, gid  int
		needsRoot bool
		want      string // "": accepted
	}{
		{name: "private", mode: 0o700, uid: -1, gid: -1},
		{name: "sticky and writable by all", mode: 0o777 | os.ModeSticky, uid: -1, gid: -1},
		{name: "group-writable, not sticky", mode: 0o770, uid: -1, gid: other, needsRoot: true, want: "can write to it (mode 0770)"},
		{name: "writable by all, not sticky", mode: 0o777, uid: -1, gid: -1, want: "anyone can write to it"},
		{name: "another user's", mode: 0o755, uid: other, gid: other, needsRoot: true, want: "owned by"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needsRoot && os.Getuid() != 0 {
				t.Skip("needs root to chown")
			}
			tmp := filepath.Join(t.TempDir(), "tmp")
			mkdir(t, tmp)
			if err := os.Lchown(tmp, tc.uid, tc.gid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(tmp, tc.mode); err != nil {
				t.Fatal(err)
			}
			t.Setenv("TMPDIR", tmp)
			s, err := NewScratch("build", nil)
			if err == nil {
				s.Remove()
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "hint: set TMPDIR")):
				t.Errorf("got %v, want a refusal containing %q and the hint", err, tc.want)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("left in TMPDIR: %v", left)
			}
		})
	}
}

// TestScratchRemove: Remove removes the dir and what tools left in it,
// read-only dirs too.
func TestScratchRemove(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	s := newScratch(t, "build")
	ro := filepath.Join(s.Path, "pip-unpack-1", "ro")
	mkdir(t, ro)
	if err := os.Chmod(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	s.Remove()
	if _, err := os.Stat(s.Path); !os.IsNotExist(err) {
		t.Errorf("scratch dir after Remove: %v", err)
	}
}

func newScratch(t *testing.T, kind string) *Scratch {
	t.Helper()
	s, err := NewScratch(kind, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}
