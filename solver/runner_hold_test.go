//go:build !race

// TestRunnerHold closes the caller's descriptor once the tool has
// started, which it knows only from a file the tool writes: the race
// detector sees no happens-before edge between that close and exec's read
// of the descriptor in Start, so the test stays out of -race runs.

package solver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestRunnerHold: a flock on a file in Hold stays held while the tool
// runs, after the caller let go of its own descriptor.
func TestRunnerHold(t *testing.T) {
	dir := t.TempDir()
	lockPath, release := filepath.Join(dir, "lock"), filepath.Join(dir, "release")
	f, err := os.Create(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	started := filepath.Join(dir, "started")
	done := make(chan error, 1)
	go func() {
		done <- Runner{Hold: []*os.File{f}}.Run(context.Background(), nil, nil, "/bin/sh", "-c",
			`: >"$1"; while [ ! -e "$2" ]; do sleep 0.01; done`, "tool", started, release)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for _, err := os.Stat(started); err != nil; _, err = os.Stat(started) {
		if time.Now().After(deadline) {
			t.Fatal("the tool did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.Close()
	tryLock := func() error {
		g, err := os.Open(lockPath)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		return syscall.Flock(int(g.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err := tryLock(); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Errorf("lock while the tool runs: %v, want it held (EWOULDBLOCK)", err)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := tryLock(); err != nil {
		t.Errorf("lock after the tool ended: %v, want it free", err)
	}
}
