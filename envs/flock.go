package envs

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
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
// crashed builder.
type Flock struct{ f *os.File }

// lockFile takes a lock on path (created if needed), retrying until timeout.
// onWait is called once if the lock is held by someone else. A timeout of 0
// means try once.
func lockFile(path string, how int, timeout time.Duration, onWait func()) (*Flock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to open lock %s: %w", path, err)
	}
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
		case errors.Is(err, unix.ENOLCK), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EINVAL):
			f.Close()
			return nil, ErrNoLocks
		default:
			f.Close()
			return nil, fmt.Errorf("failed to lock %s: %w", path, err)
		}
	}
}

// Note records who holds the lock (host, pid, time), for the message a
// waiter prints. Best effort.
func (l *Flock) Note() {
	host, _ := os.Hostname()
	_ = l.f.Truncate(0)
	_, _ = l.f.WriteAt([]byte(fmt.Sprintf("%s pid %d since %s\n", host, os.Getpid(), time.Now().Format(time.RFC3339))), 0)
}

// Release unlocks. Safe on a nil Flock.
func (l *Flock) Release() {
	if l != nil {
		l.f.Close()
	}
}

// holder reads who holds the lock at path, for messages.
func holder(path string) string {
	b, _ := os.ReadFile(path)
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
