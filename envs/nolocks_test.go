package envs

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/senv-hpc/senv/solver"
)

// TestNoLocksFirstPublisherWins_FakeFilesystem: on a filesystem where flock
// fails (faked here: this machine has none), concurrent builders all build,
// the first publisher wins, and every caller gets a whole env.
func TestNoLocksFirstPublisherWins_FakeFilesystem(t *testing.T) {
	cache, err := OpenCache(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	saved := flock
	flock = func(path string, fd, how int) error {
		if strings.HasPrefix(path, cache.Root) {
			return unix.ENOLCK // the shared filesystem has no locks; node-local disks do
		}
		return unix.Flock(fd, how)
	}
	defer func() { flock = saved }()
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// each "node" has its own stage dir, so builds really race
			stage, err := OpenStage(filepath.Join(t.TempDir(), "stage"), nil)
			if err != nil {
				errs[i] = err
				return
			}
			store := &Store{Cache: cache, Stage: stage, Timeout: time.Second}
			id := "00000000000000aa"
			prefix, _, err := store.Ensure(context.Background(), Job{ID: id, Lock: testLock(), Backend: slowBackend{}, Meta: Meta{ID: id}})
			if err == nil {
				_, err = os.Stat(filepath.Join(prefix, "bin", "tool"))
			}
			errs[i] = err
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("builder %d: %v", i, err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(cache.Root, "envs")); len(ents) != 1 {
		t.Errorf("%d cache entries, want 1", len(ents))
	}
	if left, _ := os.ReadDir(filepath.Join(cache.Root, "tmp")); len(left) != 0 {
		t.Errorf("temp left: %v", left)
	}
}

// countingBackend is slowBackend that counts its builds.
type countingBackend struct {
	slowBackend
	builds *atomic.Int32
}

func (b countingBackend) Create(ctx context.Context, r solver.Runner, l *solver.Lock, prefix string, out io.Writer) error {
	b.builds.Add(1)
	return b.slowBackend.Create(ctx, r, l, prefix, out)
}

// TestNoLocksStageNone_FakeFilesystem: `stage none` builds and runs in the
// cache's shared dir; on a filesystem where flock fails (faked: this
// machine has none) concurrent first runs build once, and every later run
// works too (before: every run failed with "no locks available").
func TestNoLocksStageNone_FakeFilesystem(t *testing.T) {
	cache, err := OpenCache(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	saved := flock
	flock = func(path string, fd, how int) error {
		if strings.HasPrefix(path, cache.Root) {
			return unix.ENOLCK
		}
		return unix.Flock(fd, how)
	}
	defer func() { flock = saved }()
	stage, err := OpenStage(filepath.Join(cache.Root, "shared"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var builds atomic.Int32
	id := "00000000000000bb"
	run := func() error { // what `senv run` does: lease, then ensure
		lease, err := stage.Lease(id)
		if err != nil {
			return err
		}
		defer lease.Close()
		store := &Store{Cache: cache, Stage: stage, Timeout: 5 * time.Second, NoPack: true}
		prefix, _, err := store.Ensure(context.Background(), Job{ID: id, Lock: testLock(), Backend: countingBackend{builds: &builds}, Meta: Meta{ID: id}})
		if err == nil {
			_, err = os.Stat(filepath.Join(prefix, "bin", "tool"))
		}
		return err
	}
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = run()
		}(i)
	}
	wg.Wait()
	errs = append(errs, run()) // a warm run
	for i, err := range errs {
		if err != nil {
			t.Errorf("run %d: %v", i, err)
		}
	}
	if got := builds.Load(); got != 1 {
		t.Errorf("%d builds, want 1", got)
	}
	if _, err := os.Stat(filepath.Join(stage.Dir, ".senv", id+".claim")); err == nil {
		t.Error("claim left behind")
	}
	// gc cannot tell whether the env is in use: it keeps it
	if removed, err := stage.RemoveUnused(id, nil); removed || err != nil {
		t.Errorf("RemoveUnused without locks: removed %v, %v", removed, err)
	}
}
