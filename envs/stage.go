package envs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Stage is the node-local directory environments run from:
//
//	DIR/ID/              the environment, at the path it was built for
//	DIR/.senv/ID.lock    one stager per node at a time
//	DIR/.senv/ID.done    completeness marker, written last
//	DIR/.senv/ID.lease   held (shared) by every process running from ID
//
// An environment is used only when its marker exists.
type Stage struct{ Dir string }

// OpenStage returns the stage under dir, creating it (mode 0700) if needed.
// The stage's contents are executed, so dir must be a real directory (not
// a symlink: the default lives in sticky /tmp, where another user could
// plant one), owned by this user and writable by nobody else.
func OpenStage(dir string) (Stage, error) {
	s := Stage{Dir: dir}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return s, fmt.Errorf("failed to create stage dir: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return s, fmt.Errorf("failed to create stage dir: %w", err)
	}
	if err := checkOwnDir(dir); err != nil {
		return s, err
	}
	if err := os.Mkdir(filepath.Join(dir, ".senv"), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return s, fmt.Errorf("failed to create stage dir: %w", err)
	}
	return s, checkOwnDir(filepath.Join(dir, ".senv"))
}

// checkOwnDir refuses anything at dir but a real directory of ours that
// only we can write to.
func checkOwnDir(dir string) error {
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("failed to check %s: %w", dir, err)
	}
	st, _ := info.Sys().(*syscall.Stat_t)
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("refusing %s: it is a symlink (someone else may have planted it; remove it, or set stage_dir)", dir)
	case !info.IsDir():
		return fmt.Errorf("refusing %s: not a directory", dir)
	case st != nil && int(st.Uid) != os.Getuid():
		return fmt.Errorf("refusing %s: it is owned by uid %d, not by you (uid %d)", dir, st.Uid, os.Getuid())
	case info.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("refusing %s: others can write to it (mode %v; chmod go-w)", dir, info.Mode().Perm())
	}
	return nil
}

// Prefix is where env id lives on this node.
func (s Stage) Prefix(id string) string { return filepath.Join(s.Dir, id) }

func (s Stage) meta(id, ext string) string { return filepath.Join(s.Dir, ".senv", id+"."+ext) }

// Ready reports whether env id is staged and complete on this node: its
// marker exists, and so does its directory (a /tmp cleaner or a user may
// have removed the env and left the marker).
func (s Stage) Ready(id string) bool {
	if _, err := os.Stat(s.meta(id, "done")); err != nil {
		return false
	}
	info, err := os.Lstat(s.Prefix(id))
	return err == nil && info.IsDir()
}

// Lock takes the node-local lock of env id, waiting up to timeout.
func (s Stage) Lock(id string, timeout time.Duration, onWait func(string)) (*Flock, error) {
	l, err := lockFile(s.meta(id, "lock"), unix.LOCK_EX, timeout, func() {
		if onWait != nil {
			onWait(fmt.Sprintf("waiting for another senv staging env %s on this node", id))
		}
	})
	if errors.Is(err, errLockTimeout) {
		return nil, fmt.Errorf("failed to stage env %s: timed out after %s waiting for another senv on this node", id, timeout)
	}
	return l, err
}

// Reset removes a partial env id (no marker). Call it only under Lock.
func (s Stage) Reset(id string) error {
	_ = os.Remove(s.meta(id, "done"))
	if err := removeTree(s.Prefix(id)); err != nil {
		return fmt.Errorf("failed to remove partial env %s: %w", id, err)
	}
	return nil
}

// MarkReady writes the completeness marker of env id. Call it only under
// Lock, after the env is whole.
func (s Stage) MarkReady(id string) error {
	tmp := s.meta(id, "done.tmp")
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
		return fmt.Errorf("failed to mark env %s staged: %w", id, err)
	}
	if err := os.Rename(tmp, s.meta(id, "done")); err != nil {
		return fmt.Errorf("failed to mark env %s staged: %w", id, err)
	}
	return nil
}

// FromCache stages entry id of c onto this node under Lock, verifying the
// archive against the manifest while it extracts. It returns the manifest.
func (s Stage) FromCache(c Cache, id string, progress func(done, total int64)) (*Manifest, error) {
	m, err := c.Manifest(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(c.Entry(id), archiveName))
	if err != nil {
		return nil, fmt.Errorf("failed to stage env %s: %w", id, err)
	}
	defer f.Close()
	if err := s.Reset(id); err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("failed to stage env %s: %w", id, err)
	}
	if err := Unpack(f, info.Size(), s.Prefix(id), m, progress); err != nil {
		_ = removeTree(s.Prefix(id))
		if errors.Is(err, ErrDamaged) {
			return nil, fmt.Errorf("failed to stage env %s: its cache entry is damaged: %w; remove it with `senv rm %s` and run again to rebuild it", id, err, id)
		}
		return nil, fmt.Errorf("failed to stage env %s: %w", id, err)
	}
	return m, s.MarkReady(id)
}

// ReadyPath is the completeness marker of env id.
func (s Stage) ReadyPath(id string) string { return s.meta(id, "done") }

// LeasePath is the file whose shared lock marks env id as in use.
func (s Stage) LeasePath(id string) string { return s.meta(id, "lease") }

// Lease marks env id as in use by this process and every process it execs:
// the returned file stays open (and shared-locked) across exec, and gc
// removes only envs whose lease it can lock exclusively.
func (s Stage) Lease(id string) (*os.File, error) {
	f, err := os.OpenFile(s.LeasePath(id), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to take lease on env %s: %w", id, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to take lease on env %s: %w", id, err)
	}
	now := time.Now()
	_ = os.Chtimes(f.Name(), now, now) // last use, for gc
	return f, nil
}

// StagedEnv is one env present on this node.
type StagedEnv struct {
	ID       string
	Ready    bool
	Modified time.Time
}

// List returns the envs present on this node, complete or not.
func (s Stage) List() ([]StagedEnv, error) {
	ents, err := os.ReadDir(s.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("failed to list stage: %w", err)
	}
	var out []StagedEnv
	for _, e := range ents {
		if !e.IsDir() || !validID(e.Name()) {
			continue
		}
		info, err := os.Stat(s.meta(e.Name(), "lease"))
		if err != nil {
			info, err = e.Info()
		}
		if err != nil {
			continue
		}
		out = append(out, StagedEnv{ID: e.Name(), Ready: s.Ready(e.Name()), Modified: info.ModTime()})
	}
	return out, nil
}

// RemoveUnused removes env id from this node if no process holds its lease.
// It reports whether it removed it.
func (s Stage) RemoveUnused(id string) (bool, error) {
	l, err := s.Lock(id, 0, nil)
	if err != nil {
		return false, nil // being staged right now: in use
	}
	defer l.Release()
	lease, err := lockFile(s.meta(id, "lease"), unix.LOCK_EX, 0, nil)
	if err != nil {
		return false, nil // leased: in use
	}
	defer lease.Release()
	if err := s.Reset(id); err != nil {
		return false, err
	}
	return true, nil
}

// removeTree removes an env tree. Envs may hold read-only directories
// (Unpack restores them, installers make them); their owner cannot delete
// inside those until they are writable again, so every directory gets u+rwx
// first. Symlinks are not followed.
func removeTree(root string) error {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // RemoveAll reports what matters
		}
		if d.IsDir() {
			if info, err := d.Info(); err == nil && info.Mode().Perm()&0o700 != 0o700 {
				_ = os.Chmod(p, info.Mode().Perm()|0o700)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return os.RemoveAll(root)
}
