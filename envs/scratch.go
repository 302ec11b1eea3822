package envs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// scratchKinds are the kinds of scratch dir: TMPDIR/senv-KIND-*. Only
// NewScratch makes dirs with these names, so only those are swept (senv
// sbatch's dirs, for one, hold no lock and must not look abandoned).
var scratchKinds = []string{"solve", "build"}

// Scratch is a temporary directory of a running senv: a solve's or a
// build's, and its tools' (TMPDIR points into it). Its owner holds an
// exclusive flock on the directory itself while it lives, so that another
// senv can tell the leftovers of a killed owner (nobody holds the lock)
// from a live one's. Not for concurrent use; the owner calls Remove.
type Scratch struct {
	Path string
	f    *os.File
}

// NewScratch removes the scratch dirs of this user whose owners are gone,
// then creates one of kind ("solve" or "build") in os.TempDir().
func NewScratch(kind string) (*Scratch, error) {
	SweepScratch()
	// A sweeper may take the lock between Mkdir and Flock and remove the
	// new dir: then the lock is on a removed dir, and we try again.
	for attempt := 0; attempt < 3; attempt++ {
		dir, err := os.MkdirTemp("", "senv-"+kind+"-")
		if err != nil {
			return nil, fmt.Errorf("failed to create %s dir: %w", kind, err)
		}
		f, err := os.Open(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("failed to create %s dir: %w", kind, err)
		}
		// no working locks: the dir is then never swept, only removed by us
		_ = flock(dir, int(f.Fd()), unix.LOCK_EX)
		if sameFile(f, dir) {
			return &Scratch{Path: dir, f: f}, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("failed to create %s dir: removed by another senv three times", kind)
}

// Remove removes the scratch dir, then releases it. Safe on nil.
func (s *Scratch) Remove() {
	if s == nil {
		return
	}
	_ = removeTree(s.Path)
	s.f.Close()
}

// SweepScratch removes every scratch dir of this user that no live senv
// holds. Best effort: a dir that cannot be checked or removed stays.
func SweepScratch() {
	ents, err := os.ReadDir(os.TempDir())
	if err != nil {
		return
	}
	for _, e := range ents {
		for _, kind := range scratchKinds {
			if strings.HasPrefix(e.Name(), "senv-"+kind+"-") {
				sweepOne(filepath.Join(os.TempDir(), e.Name()))
			}
		}
	}
}

// sweepOne removes dir if it is a real directory of ours that nobody has
// locked. TMPDIR is often sticky /tmp: another user may have planted a
// symlink or a dir of the name, and neither is followed or touched.
func sweepOne(dir string) {
	info, err := os.Lstat(dir)
	if err != nil || !info.IsDir() {
		return
	}
	if st, ok := info.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
		return
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	if flock(dir, fd, unix.LOCK_EX|unix.LOCK_NB) != nil || !sameFile(f, dir) {
		return // in use, or no working locks: cannot tell, so keep it
	}
	_ = removeTree(dir)
}

// sameFile reports whether the open f is still what path names.
func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}
