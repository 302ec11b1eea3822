package envs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/senv-hpc/senv/internal/inputfile"
)

// Stage is the node-local directory environments run from:
//
//	DIR/ID/              the environment, at the path it was built for
//	DIR/.senv/ID.lock    one stager per node at a time
//	DIR/.senv/ID.done    completeness marker, written last
//	DIR/.senv/ID.lease   held (shared) by every process running from ID
//	DIR/.senv/ID.job.J   Slurm job J staged or ran ID here: in use while J runs
//	DIR/.senv/ID.claim/  the lock, where the filesystem has no working flock
//
// An environment is used only when its marker exists.
type Stage struct {
	Dir string
	// Job is the Slurm job this process belongs to, or "". Lease records
	// it: a job's processes may outlive the one holding the lease (a
	// detached child closes its descriptors), and the env must stay while
	// the job runs.
	Job string
	// local is set when Dir is on a filesystem of the node's own (see
	// nodeLocal): only there can a crash lose what was written before a
	// completeness marker, and is a marker of an earlier boot distrusted.
	local bool
}

// nodeLocal reports whether dir is on a filesystem that lives on this node
// (ext4, xfs, btrfs, zfs, f2fs, tmpfs). A shared one (NFS, Lustre, GPFS,
// BeeGFS, ...) keeps what its clients wrote across their reboots, and a
// `stage none` env there is in use by other nodes' jobs: distrusting its
// marker after its builder's reboot would rebuild it under them.
func nodeLocal(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	switch uint32(st.Type) {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, 0x2fc12fc1 /* zfs */, unix.F2FS_SUPER_MAGIC, unix.TMPFS_MAGIC:
		return true
	}
	return false
}

// OpenStage returns the stage under dir, creating it (mode 0700) if needed.
// The stage's contents are executed, by path, after senv has checked them,
// so dir must be a real directory (not a symlink: the default lives in
// sticky /tmp, where another user could plant one), owned by this user and
// writable by nobody else, and no one untrusted may be able to rename it or
// any directory above it (see Trust): a parent writable by others would let
// them swap the whole stage between senv's checks and the job's exec. trust
// nil trusts only the user and root.
func OpenStage(dir string, trust *Trust) (Stage, error) {
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
	if err := trust.checkPath(filepath.Dir(dir)); err != nil {
		return s, fmt.Errorf("failed to open stage dir %s: %w", dir, err)
	}
	if err := os.Mkdir(filepath.Join(dir, ".senv"), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return s, fmt.Errorf("failed to create stage dir: %w", err)
	}
	s.local = nodeLocal(dir)
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
// marker exists and is good for this boot (see MarkReady), and so does its
// directory (a /tmp cleaner or a user may have removed the env and left
// the marker).
func (s Stage) Ready(id string) bool {
	marker, err := inputfile.Read(s.meta(id, "done"), maxMarker)
	if err != nil || (s.local && !markerCurrent(string(marker))) {
		return false
	}
	info, err := os.Lstat(s.Prefix(id))
	return err == nil && info.IsDir()
}

// maxMarker bounds the read of a completeness marker: a line.
const maxMarker = 4 << 10

// markerCurrent reports whether a completeness marker may be trusted now.
// The marker names the host and the boot it was written in: staging does
// not fsync what it writes (that would make every warm start wait for the
// disk's write-back), so after a crash or a power loss a marker can
// survive while the files it vouches for did not. A marker this host
// wrote in an earlier boot is therefore not trusted, and the env is staged
// again. One of another host or of an older senv (the ID alone) is, and
// Ready asks only for a stage on a node-local filesystem (nodeLocal).
func markerCurrent(marker string) bool {
	f := strings.Fields(marker)
	if len(f) != 5 || f[1] != "host" || f[3] != "boot" {
		return true
	}
	host, _ := os.Hostname()
	boot := bootID()
	return f[2] != host || boot == "" || f[4] == boot
}

// bootID is the kernel's ID of this boot, or "" where it cannot be read.
var bootID = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
})

// ChangedSince returns the first file, dir or symlink of staged env id
// (relative to its prefix) whose status changed after its completeness
// marker was written, or "" if none did: a `pip install` in `senv shell`,
// an edited file, a chmod, a removal. The kernel sets ctime; no user can
// set it back. Bytecode that Python writes at run time is not a change:
// `__pycache__` dirs and what is in them are passed over, and so is a dir
// whose last change was the creation of its `__pycache__` (see
// onlyBytecodeNewer; a removed file shows as a change of its dir).
func (s Stage) ChangedSince(id string) (string, error) {
	var mark unix.Stat_t
	if err := unix.Stat(s.meta(id, "done"), &mark); err != nil {
		return "", fmt.Errorf("failed to check staged env %s: %w", id, err)
	}
	marked := time.Unix(mark.Mtim.Unix())
	newer := func(p string) bool {
		c, ok := ctime(p)
		return ok && c.After(marked)
	}
	root := s.Prefix(id)
	var changed string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.Name() == "__pycache__" && d.IsDir():
			return filepath.SkipDir
		case !newer(p):
			return nil
		case d.IsDir() && onlyBytecodeNewer(p):
			return nil
		}
		changed, _ = filepath.Rel(root, p)
		return filepath.SkipAll
	})
	if err != nil {
		return "", fmt.Errorf("failed to check staged env %s: %w", id, err)
	}
	return changed, nil
}

// onlyBytecodeNewer reports whether the last change of dir, which changed
// since staging, is no later than the last change of its `__pycache__`:
// Python creating that dir explains it. A file removed or added after the
// bytecode was written is not explained, and counts (new entries are
// reported on their own in any case).
func onlyBytecodeNewer(dir string) bool {
	d, ok := ctime(dir)
	c, okc := ctime(filepath.Join(dir, "__pycache__"))
	return ok && okc && !d.After(c)
}

// ctime returns the status change time of p (not following a symlink).
func ctime(p string) (time.Time, bool) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return time.Time{}, false
	}
	return time.Unix(st.Ctim.Unix()), true
}

// Lock takes the node-local lock of env id, waiting up to timeout. Where
// flock does not work (the shared dir of `stage none` envs on some
// filesystems) it falls back to claiming a directory, which mkdir makes
// atomic everywhere.
func (s Stage) Lock(id string, timeout time.Duration, onWait func(string)) (*Flock, error) {
	wait := func() {
		if onWait != nil {
			onWait(fmt.Sprintf("waiting for another senv staging env %s on this node", id))
		}
	}
	l, err := lockFile(s.meta(id, "lock"), unix.LOCK_EX, timeout, wait)
	if errors.Is(err, ErrNoLocks) {
		l, err = claimDir(s.meta(id, "claim"), timeout, wait)
		if errors.Is(err, errLockTimeout) {
			return nil, fmt.Errorf("failed to stage env %s: timed out after %s waiting for %s (the filesystem has no locks; "+
				"if that senv is gone, remove %s)", id, timeout, holder(filepath.Join(s.meta(id, "claim"), "holder")), s.meta(id, "claim"))
		}
	}
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

// MarkReady writes the completeness marker of env id, with this host's
// name and boot ID (see markerCurrent). Call it only under Lock, after the
// env is whole.
func (s Stage) MarkReady(id string) error {
	tmp := s.meta(id, "done.tmp")
	host, _ := os.Hostname()
	marker := id + "\n"
	if boot := bootID(); host != "" && boot != "" && !strings.ContainsAny(host, " \t\n") {
		marker = fmt.Sprintf("%s host %s boot %s\n", id, host, boot)
	}
	if err := os.WriteFile(tmp, []byte(marker), 0o600); err != nil {
		return fmt.Errorf("failed to mark env %s staged: %w", id, err)
	}
	if err := os.Rename(tmp, s.meta(id, "done")); err != nil {
		return fmt.Errorf("failed to mark env %s staged: %w", id, err)
	}
	return nil
}

// FromCache stages entry id of c onto this node under Lock, verifying the
// archive against the manifest while it extracts. It returns the manifest.
// An entry that is damaged or untrusted is refused, and nothing is staged;
// warn (if not nil) hears of a damaged manifest.gob that manifest.json
// stood in for. An entry built at another prefix is relocated (see
// Unpack); one that cannot be is refused.
func (s Stage) FromCache(c Cache, id string, progress func(done, total int64), warn func(string)) (*Manifest, error) {
	meta, err := c.Meta(id)
	if err != nil {
		return nil, refuseEntry(id, err)
	}
	m, err := c.manifest(id, warn)
	if err != nil {
		return nil, refuseEntry(id, err)
	}
	if m.Prefix == "" && meta.Prefix != s.Prefix(id) {
		return nil, fmt.Errorf("failed to stage env %s: an older senv built it at %s and recorded no relocation data, "+
			"so it runs only there, not at %s; remove it with `senv rm %s` (or, in a site cache, ask its admins to rebuild it)",
			id, meta.Prefix, s.Prefix(id), id)
	}
	f, err := c.open(id, archiveName)
	if err != nil {
		return nil, refuseEntry(id, err)
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
		return nil, refuseEntry(id, err)
	}
	return m, s.MarkReady(id)
}

// refuseEntry says why entry id cannot be staged, and for a damaged entry
// how to repair it.
func refuseEntry(id string, err error) error {
	var re *RelocateError
	if errors.As(err, &re) {
		return fmt.Errorf("failed to stage env %s: %w\nhint: %s", id, err, re.Hint())
	}
	if errors.Is(err, ErrDamaged) || errors.Is(err, ErrDamagedEntry) {
		return fmt.Errorf("failed to stage env %s: its cache entry is damaged: %w; remove it with `senv rm %s` and run again to rebuild it", id, err, id)
	}
	return fmt.Errorf("failed to stage env %s: %w", id, err)
}

// ReadyPath is the completeness marker of env id.
func (s Stage) ReadyPath(id string) string { return s.meta(id, "done") }

// LeasePath is the file whose shared lock marks env id as in use.
func (s Stage) LeasePath(id string) string { return s.meta(id, "lease") }

// Lease marks env id as in use by this process and every process it execs:
// the returned file stays open (and shared-locked) across exec, and gc
// removes only envs whose lease it can lock exclusively. In a Slurm job
// (Job set) it also records the job, and gc keeps the env while the job
// runs. Where flock does not work, the file is returned unlocked: gc,
// which cannot lock it either, then leaves the env alone.
func (s Stage) Lease(id string) (*os.File, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("failed to take lease on env: %q is not an env ID", id)
	}
	f, err := os.OpenFile(s.LeasePath(id), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to take lease on env %s: %w", id, err)
	}
	if err := flock(f.Name(), int(f.Fd()), unix.LOCK_SH); err != nil && !noLocks(err) {
		f.Close()
		return nil, fmt.Errorf("failed to take lease on env %s: %w", id, err)
	}
	if s.Job != "" {
		if err := s.recordJob(id); err != nil {
			f.Close()
			return nil, err
		}
	}
	now := time.Now()
	_ = os.Chtimes(f.Name(), now, now) // last use, for gc
	return f, nil
}

// recordJob writes DIR/.senv/ID.job.JOB.
func (s Stage) recordJob(id string) error {
	if !validJob(s.Job) {
		return fmt.Errorf("failed to take lease on env %s: %q is not a Slurm job ID", id, s.Job)
	}
	f, err := os.OpenFile(s.meta(id, "job."+s.Job), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("failed to take lease on env %s: %w", id, err)
	}
	return f.Close()
}

func validJob(job string) bool {
	return job != "" && len(job) <= 20 && strings.Trim(job, "0123456789") == ""
}

// Jobs tells whether a Slurm job still runs; gc asks it about the jobs
// that recorded a lease. Implementations answer true when they cannot
// tell: keeping an env is safe, removing it under a job is not.
type Jobs interface {
	Running(job string) bool
}

// jobsUsing reports whether a job that still runs uses env id, and removes
// the records of jobs that ended.
func (s Stage) jobsUsing(id string, jobs Jobs) bool {
	records, _ := filepath.Glob(s.meta(id, "job.*"))
	used := false
	for _, r := range records {
		job := strings.TrimPrefix(filepath.Base(r), id+".job.")
		if jobs == nil || jobs.Running(job) {
			used = true
			continue
		}
		_ = os.Remove(r)
	}
	return used
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
		if !e.IsDir() || !ValidID(e.Name()) {
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

// RemoveUnused removes env id from this node if no process holds its lease
// and no Slurm job that recorded one still runs (jobs answers that; nil
// counts every recorded job as running). It reports whether it removed it.
func (s Stage) RemoveUnused(id string, jobs Jobs) (bool, error) {
	l, err := s.Lock(id, 0, nil)
	if err != nil {
		return false, nil // being staged right now: in use
	}
	defer l.Release()
	lease, err := lockFile(s.meta(id, "lease"), unix.LOCK_EX, 0, nil)
	if err != nil {
		return false, nil // leased (or no locks here, so it may be): in use
	}
	defer lease.Release()
	if s.jobsUsing(id, jobs) {
		return false, nil
	}
	if err := s.Reset(id); err != nil {
		return false, err
	}
	return true, nil
}

// Collect removes the envs of this stage that nothing uses (see
// RemoveUnused) and that were last used more than age ago (0: any age).
// It is the stage half of gc; logf, if not nil, hears of each removal.
func (s Stage) Collect(age time.Duration, jobs Jobs, logf func(string, ...any)) error {
	staged, err := s.List()
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-age)
	for _, e := range staged {
		if age > 0 && e.Modified.After(cutoff) {
			continue
		}
		removed, err := s.RemoveUnused(e.ID, jobs)
		if err != nil {
			return err
		}
		if removed && logf != nil {
			logf("removed staged env %s", e.ID)
		}
	}
	return nil
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
