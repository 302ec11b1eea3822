package envs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// scratchKinds are the kinds of scratch dir: TMPDIR/senv-KIND-*. Only
// NewScratch makes dirs with these names, so only those are swept (senv
// sbatch's dirs, for one, hold no lock and must not look abandoned).
var scratchKinds = []string{"solve", "build", "image"}

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
// then creates one of kind ("solve", "build" or "image") in os.TempDir().
// What tools write there is installed into envs, so TMPDIR must pass the
// check of trust (nil: the user and root), as a stage dir does: someone
// who can rename what is in it could swap the dir for one of theirs.
//
// A dir is locked before it gets its sweepable name: it is made as
// .senv-new-KIND-*, locked, then renamed (the lock is on the inode, so it
// moves with it). A sweeper therefore never finds a senv-KIND-* dir that
// is new and not yet locked; before, concurrent builds in one process took
// each other's fresh dirs until one gave up.
func NewScratch(kind string, trust *Trust) (*Scratch, error) {
	tmp := os.TempDir()
	if err := CheckTempDir(tmp, trust); err != nil {
		return nil, fmt.Errorf("failed to create %s dir: %w", kind, err)
	}
	SweepScratch()
	for attempt := 0; attempt < 3; attempt++ {
		fresh, err := os.MkdirTemp(tmp, newPrefix+kind+"-")
		if err != nil {
			return nil, fmt.Errorf("failed to create %s dir: %w", kind, err)
		}
		f, err := os.Open(fresh)
		if err != nil {
			os.Remove(fresh)
			return nil, fmt.Errorf("failed to create %s dir: %w", kind, err)
		}
		// no working locks: the dir is then never swept, only removed by us
		_ = flock(fresh, int(f.Fd()), unix.LOCK_EX)
		dir := filepath.Join(tmp, "senv-"+kind+"-"+strings.TrimPrefix(filepath.Base(fresh), newPrefix+kind+"-"))
		err = renameNoReplace(fresh, dir)
		if errors.Is(err, fs.ErrExist) { // the name is taken: draw another
			f.Close()
			os.Remove(fresh)
			continue
		}
		if err != nil {
			f.Close()
			os.Remove(fresh)
			return nil, fmt.Errorf("failed to create %s dir: %w", kind, err)
		}
		return &Scratch{Path: dir, f: f}, nil
	}
	return nil, fmt.Errorf("failed to create %s dir in %s: three names taken", kind, tmp)
}

// newPrefix names a scratch dir that is not locked yet; the sweep leaves
// it alone unless it is older than newGrace (its maker died before the
// rename, which takes microseconds).
const (
	newPrefix = ".senv-new-"
	newGrace  = time.Minute
)

// CheckTempDir refuses temporary dir dir (TMPDIR) unless trust (nil: the
// user and root) trusts every dir from / down to it: what senv puts in a
// dir of its own there is run or installed, and whoever can rename entries
// of dir or of a dir above it could swap senv's for one of theirs between
// senv's write and the use.
func CheckTempDir(dir string, trust *Trust) error {
	if err := trust.checkPath(dir); err != nil {
		return fmt.Errorf("TMPDIR %s: %w\nhint: set TMPDIR to a dir that only you (or root) can change", dir, err)
	}
	return nil
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
		name := e.Name()
		for _, kind := range scratchKinds {
			switch {
			case strings.HasPrefix(name, "senv-"+kind+"-"):
				sweepOne(filepath.Join(os.TempDir(), name), 0)
			case strings.HasPrefix(name, newPrefix+kind+"-"):
				sweepOne(filepath.Join(os.TempDir(), name), newGrace)
			}
		}
	}
}

// sweepOne removes dir if it is a real directory of ours, at least minAge
// old, that nobody has locked. TMPDIR is often sticky /tmp: another user may have planted a
// symlink or a dir of the name, and neither is followed or touched.
func sweepOne(dir string, minAge time.Duration) {
	info, err := os.Lstat(dir)
	if err != nil || !info.IsDir() {
		return
	}
	if st, ok := info.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
		return
	}
	if time.Since(info.ModTime()) < minAge {
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
