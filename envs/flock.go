package envs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/senv-hpc/senv/internal/inputfile"
)

// ErrNoLocks means the filesystem does not support file locks. Callers fall
// back to "first publisher wins", which is safe because publication never
// replaces an existing entry.
var ErrNoLocks = errors.New("file locks not supported on this filesystem")

// errLockTimeout is returned when a lock stays held past the deadline.
var errLockTimeout = errors.New("timed out waiting for lock")

// A waiter retries a held lock after pollInterval, doubling up to
// quickPollCap for the first quickPollFor (a waiter starts soon after a
// short build), then up to maxPollInterval: hundreds of array tasks waiting
// on one long build must not flood the shared filesystem's lock server.
const (
	pollInterval    = 50 * time.Millisecond
	quickPollCap    = 250 * time.Millisecond
	quickPollFor    = 30 * time.Second
	maxPollInterval = 2 * time.Second
)

// flock is flock(2) on the open file at path; a variable only so that a
// test can stand in for a shared filesystem without working locks, which
// this machine cannot provide.
var flock = func(_ string, fd, how int) error { return unix.Flock(fd, how) }

// Flock is a held exclusive or shared lock on a file. The kernel releases
// it when the holder dies, which is what lets the next job take over from a
// crashed builder. A claimed directory (claimDir) stands in for it where
// flock does not work.
type Flock struct {
	f     *os.File
	claim string // the claimed directory, removed on Release
}

// lockFile takes a lock on path (created if needed), retrying until timeout.
// onWait is called once if the lock is held by someone else. A timeout of 0
// means try once.
func lockFile(path string, how int, timeout time.Duration, onWait func()) (*Flock, error) {
	f, err := openLock(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, err
	}
	return lockOpen(f, path, how, timeout, onWait)
}

// openLock opens the lock file at path, not through a symlink, and only a
// regular file: Note truncates and writes it, so it must not be another
// file planted there, and a FIFO must not block the open.
func openLock(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to open lock %s: %w", path, err)
	}
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("failed to open lock %s: not a regular file", path)
	}
	return f, nil
}

// lockOpen is lockFile on an open file, which it closes unless it returns
// the lock.
func lockOpen(f *os.File, path string, how int, timeout time.Duration, onWait func()) (*Flock, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	waited := false
	wait := pollInterval
	for {
		err := flock(path, int(f.Fd()), how|unix.LOCK_NB)
		switch {
		case err == nil:
			return &Flock{f: f}, nil
		case errors.Is(err, unix.EWOULDBLOCK):
			if !time.Now().Before(deadline) {
				f.Close()
				return nil, errLockTimeout
			}
			if !waited && onWait != nil {
				onWait()
			}
			waited = true
			time.Sleep(min(wait, time.Until(deadline)+time.Millisecond))
			limit := maxPollInterval
			if time.Since(start) < quickPollFor {
				limit = quickPollCap
			}
			wait = min(2*wait, limit)
		case noLocks(err):
			f.Close()
			return nil, ErrNoLocks
		default:
			f.Close()
			return nil, fmt.Errorf("failed to lock %s: %w", path, err)
		}
	}
}

// noLocks reports whether a flock error means the filesystem has none.
func noLocks(err error) bool {
	return errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL)
}

// claimDir takes an exclusive claim by creating dir, retrying until
// timeout, for filesystems without working flock. A claim left by a
// process of this host that has died is taken over; one from another host
// must be removed by hand (the timeout message says so).
func claimDir(dir string, timeout time.Duration, onWait func()) (*Flock, error) {
	deadline := time.Now().Add(timeout)
	waited := false
	for {
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			f, err := os.OpenFile(filepath.Join(dir, "holder"), os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				os.RemoveAll(dir)
				return nil, fmt.Errorf("failed to claim %s: %w", dir, err)
			}
			l := &Flock{f: f, claim: dir}
			l.Note()
			return l, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("failed to claim %s: %w", dir, err)
		}
		if deadClaim(filepath.Join(dir, "holder")) {
			_ = os.RemoveAll(dir)
			continue
		}
		if !time.Now().Before(deadline) {
			return nil, errLockTimeout
		}
		if !waited && onWait != nil {
			onWait()
		}
		waited = true
		time.Sleep(min(quickPollCap, time.Until(deadline)+time.Millisecond))
	}
}

// deadClaim reports whether the claim noted in holder is this host's and
// its process has exited.
func deadClaim(holder string) bool {
	b, err := inputfile.Read(holder, maxHolder)
	if err != nil {
		return false // being written, or another's: wait
	}
	var host string
	var pid int
	if _, err := fmt.Sscanf(string(b), "%s pid %d", &host, &pid); err != nil || pid <= 0 {
		return false
	}
	me, _ := os.Hostname()
	return host == me && errors.Is(unix.Kill(pid, 0), unix.ESRCH)
}

// Note records who holds the lock (host, pid, time), for the message a
// waiter prints. Best effort.
func (l *Flock) Note() {
	host, _ := os.Hostname()
	_ = l.f.Truncate(0)
	_, _ = l.f.WriteAt([]byte(fmt.Sprintf("%s pid %d since %s\n", host, os.Getpid(), time.Now().Format(time.RFC3339))), 0)
}

// File is the locked file, for a child process to inherit (solver.Runner's
// Hold): the lock then stays held until the child is gone too.
func (l *Flock) File() *os.File { return l.f }

// Release unlocks. Safe on a nil Flock.
func (l *Flock) Release() {
	if l != nil {
		l.f.Close()
		if l.claim != "" {
			_ = os.RemoveAll(l.claim)
		}
	}
}

// maxHolder bounds what is read of a lock's note: a line.
const maxHolder = 4 << 10

// holder reads who holds the lock at path, for messages.
func holder(path string) string {
	b, _ := inputfile.Read(path, maxHolder)
	if h := strings.TrimSpace(string(b)); h != "" {
		return h
	}
	return "another process"
}

// ProbeLocks checks that flock works in dir, for `senv doctor`.
func ProbeLocks(dir string) error {
	path := fmt.Sprintf("%s/.lock-probe-%d", dir, os.Getpid())
	defer os.Remove(path)
	l, err := lockFile(path, unix.LOCK_EX, 0, nil)
	if err != nil {
		return fmt.Errorf("failed to lock a file in %s: %w (builds fall back to first publisher wins)", dir, err)
	}
	l.Release()
	return nil
}
