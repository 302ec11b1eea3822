package envs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestInstalledBeforePublish: Store.Installed runs once the env is
// installed and before it is published, with the build lock held, so a job
// that senv sbatch submitted from it and that starts on another node waits
// (AwaitBuild) and then finds the entry, instead of building it again.
func TestInstalledBeforePublish(t *testing.T) {
	cache, err := OpenCache(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	newStage := func() Stage {
		stage, err := OpenStage(filepath.Join(t.TempDir(), "stage"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return stage
	}
	const id = "00000000000000bb"
	// the job's senv, on another node: same cache, its own stage dir
	waiting := make(chan string, 1)
	node2 := &Store{Cache: cache, Stage: newStage(), Timeout: time.Minute, Logf: func(f string, a ...any) {
		select {
		case waiting <- fmt.Sprintf(f, a...):
		default:
		}
	}}
	awaited := make(chan bool, 1)
	calls := 0
	submitter := &Store{Cache: cache, Stage: newStage(), Timeout: time.Minute}
	submitter.Installed = func(got string) {
		calls++
		if got != id {
			t.Errorf("Installed(%q), want %q", got, id)
		}
		if cache.Has(id) {
			t.Error("the entry was published before Installed ran")
		}
		if _, err := os.Stat(filepath.Join(submitter.Stage.Prefix(id), "bin", "tool")); err != nil {
			t.Errorf("the env was not installed when Installed ran: %v", err)
		}
		go func() { awaited <- node2.AwaitBuild(id) }()
		select {
		case msg := <-waiting:
			t.Logf("node 2: %s", msg)
		case ok := <-awaited:
			t.Errorf("AwaitBuild returned %v while the build held its lock", ok)
		case <-time.After(30 * time.Second):
			t.Error("AwaitBuild did not wait for the build lock")
		}
	}
	job := Job{ID: id, Lock: testLock(), Backend: slowBackend{}, Meta: Meta{ID: id}}
	if _, outcome, err := submitter.Ensure(context.Background(), job); err != nil || outcome != Built {
		t.Fatalf("Ensure: %s, %v; want %s", outcome, err, Built)
	}
	select {
	case ok := <-awaited:
		if !ok {
			t.Error("AwaitBuild returned once the build released its lock, but found no entry")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("AwaitBuild still waiting after the build published")
	}
	// with no build running it does not wait, and says whether there is an entry
	if !node2.AwaitBuild(id) || node2.AwaitBuild("00000000000000cc") {
		t.Error("AwaitBuild without a build: wrong answer")
	}
	// node 2 stages the published entry: no build, no Installed
	if _, outcome, err := node2.Ensure(context.Background(), job); err != nil || outcome != CacheHit {
		t.Errorf("node 2: %s, %v; want %s", outcome, err, CacheHit)
	}
	if calls != 1 {
		t.Errorf("Installed called %d times, want 1", calls)
	}
}
