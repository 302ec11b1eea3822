package envs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestNoLocksFirstPublisherWins_FakeFilesystem: on a filesystem where flock
// fails (faked here: this machine has none), concurrent builders all build,
// the first publisher wins, and every caller gets a whole env.
func TestNoLocksFirstPublisherWins_FakeFilesystem(t *testing.T) {
	cache, err := OpenCache(t.TempDir())
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
			stage, err := OpenStage(filepath.Join(t.TempDir(), "stage"))
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
