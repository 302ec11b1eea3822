package envs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Usage is what a directory tree takes on disk, counted as a filesystem
// quota counts it.
type Usage struct {
	Bytes  int64 `json:"bytes"`  // allocated blocks (st_blocks × 512), not apparent sizes
	Inodes int64 `json:"inodes"` // files, directories and symlinks; a hard-linked file once
}

// Add returns u + v.
func (u Usage) Add(v Usage) Usage { return Usage{u.Bytes + v.Bytes, u.Inodes + v.Inodes} }

// Sub returns u - v.
func (u Usage) Sub(v Usage) Usage { return Usage{u.Bytes - v.Bytes, u.Inodes - v.Inodes} }

// DiskUsage returns what the tree at root takes on disk, without following
// symlinks. A root that does not exist takes nothing; files removed while
// it walks, and subtrees it may not read, are left out. Read-only; safe
// for concurrent use.
func DiskUsage(root string) (Usage, error) {
	var u Usage
	seen := map[[2]uint64]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			u.Inodes++
			u.Bytes += info.Size()
			return nil
		}
		if st.Nlink > 1 && !info.IsDir() {
			key := [2]uint64{uint64(st.Dev), st.Ino}
			if seen[key] {
				return nil
			}
			seen[key] = true
		}
		u.Inodes++
		u.Bytes += st.Blocks * 512
		return nil
	})
	if err != nil {
		return u, fmt.Errorf("failed to measure %s: %w", root, err)
	}
	return u, nil
}

// Usage returns what the whole cache takes on disk: entries, locks, the
// shared dir of `stage none` envs, and what writers left in tmp/.
func (c Cache) Usage() (Usage, error) { return DiskUsage(c.Root) }

// Quota caps what a cache may take on disk; a zero field is no cap.
type Quota struct {
	Bytes  int64
	Inodes int64
}

// Fits reports whether u is within q.
func (q Quota) Fits(u Usage) bool {
	return (q.Bytes <= 0 || u.Bytes <= q.Bytes) && (q.Inodes <= 0 || u.Inodes <= q.Inodes)
}

// QuotaEnv is one env that counts against a cache's quota: a cache entry,
// or (StageNone) an env built in place in the cache's shared dir.
type QuotaEnv struct {
	ID        string    `json:"id"`
	StageNone bool      `json:"stage_none,omitempty"`
	LastUsed  time.Time `json:"last_used"`
	Usage     Usage     `json:"usage"`
}

// QuotaResult is what FitQuota did: the usage before and after, the envs
// it removed, and the ones it would have removed but kept because they
// are in use.
type QuotaResult struct {
	Before  Usage      `json:"before"`
	After   Usage      `json:"after"`
	Removed []QuotaEnv `json:"removed"`
	InUse   []QuotaEnv `json:"in_use"`
}

// FitQuota removes envs, least recently used first, until total (what the
// cache takes now, envs included) fits q. remove removes one env if
// nothing uses it, and reports whether it did: an env in use is kept,
// whatever its age, and the next one is tried, so the result may still be
// over q when every remaining env is in use. FitQuota itself touches
// nothing; envs is not modified.
func FitQuota(total Usage, envs []QuotaEnv, q Quota, remove func(QuotaEnv) (bool, error)) (QuotaResult, error) {
	r := QuotaResult{Before: total, After: total}
	order := append([]QuotaEnv(nil), envs...)
	sort.SliceStable(order, func(i, j int) bool { return order[i].LastUsed.Before(order[j].LastUsed) })
	for _, e := range order {
		if q.Fits(r.After) {
			break
		}
		removed, err := remove(e)
		if err != nil {
			return r, err
		}
		if !removed {
			r.InUse = append(r.InUse, e)
			continue
		}
		r.Removed = append(r.Removed, e)
		r.After = r.After.Sub(e.Usage)
	}
	return r, nil
}

// QuotaEnvs lists what counts against c's quota, with each env's usage and
// last use: c's entries (damaged ones too; untrusted ones are not ours to
// remove) and the complete envs of shared, the cache's dir of `stage none`
// envs (nil: none).
func (c Cache) QuotaEnvs(shared *Stage) ([]QuotaEnv, error) {
	metas, err := c.List()
	if err != nil {
		return nil, err
	}
	var out []QuotaEnv
	for _, m := range metas {
		if m.Untrusted {
			continue
		}
		u, err := DiskUsage(c.Entry(m.ID))
		if err != nil {
			return nil, err
		}
		out = append(out, QuotaEnv{ID: m.ID, LastUsed: c.LastUsed(m.ID), Usage: u})
	}
	if shared == nil {
		return out, nil
	}
	staged, err := shared.List()
	if err != nil {
		return nil, err
	}
	for _, e := range staged {
		if !e.Ready {
			continue
		}
		u, err := DiskUsage(shared.Prefix(e.ID))
		if err != nil {
			return nil, err
		}
		out = append(out, QuotaEnv{ID: e.ID, StageNone: true, LastUsed: e.Modified, Usage: u})
	}
	return out, nil
}

// RemoveUnused removes entry id of c unless the env is in use on stage
// (this node's): being staged, leased by a running process, or recorded by
// a Slurm job that still runs (jobs answers that; nil counts every recorded
// job as running). It holds the stage's lock and lease while it removes
// the entry, so no process on this node starts using the env meanwhile; the
// staged copy, if any, stays (Stage.Collect is for that). Use on other nodes
// cannot be seen from here: a job there runs from its own staged copy. It
// reports whether it removed the entry.
func (c Cache) RemoveUnused(id string, stage Stage, jobs Jobs) (bool, error) {
	release, inUse := stage.hold(id, jobs)
	defer release()
	if inUse {
		return false, nil
	}
	if err := c.Remove(id); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil // removed by someone else
		}
		return false, err
	}
	return true, nil
}

// InUse reports whether env id is in use on this stage, as RemoveUnused
// decides it, without removing anything (for gc --dry-run).
func (s Stage) InUse(id string, jobs Jobs) bool {
	release, inUse := s.hold(id, jobs)
	release()
	return inUse
}

// hold takes the node-local lock and, exclusively, the lease of env id, so
// that no process on this node can stage it or start using it until
// release is called, and reports whether it is in use: someone holds
// either, or a Slurm job that recorded it still runs. An env this stage
// has never seen is not in use, and hold then creates nothing. Call
// release in every case.
func (s Stage) hold(id string, jobs Jobs) (release func(), inUse bool) {
	records, _ := filepath.Glob(s.meta(id, "job.*"))
	_, errDir := os.Lstat(s.Prefix(id))
	_, errLease := os.Lstat(s.LeasePath(id))
	if errDir != nil && errLease != nil && len(records) == 0 {
		return func() {}, false
	}
	l, err := s.Lock(id, 0, nil)
	if err != nil {
		return func() {}, true // being staged right now
	}
	lease, err := lockFile(s.LeasePath(id), unix.LOCK_EX, 0, nil)
	if err != nil {
		l.Release()
		return func() {}, true // leased (or no locks here, so it may be)
	}
	release = func() { lease.Release(); l.Release() }
	for _, r := range records {
		if jobs == nil || jobs.Running(filepath.Base(r)[len(id)+len(".job."):]) {
			return release, true
		}
	}
	return release, false
}
