//go:build stress

package envs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Stress tests of the trust checks against a racing attacker: `make stress`
// (go test -tags stress ./...). SENV_STRESS_TRIALS and SENV_STRESS_SECONDS
// bound each test (defaults: small, for CI); each prints "N trials, M
// failures" and fails on any failure.

func stressBounds(t *testing.T, defTrials int) (int, time.Duration) {
	trials, secs := defTrials, 5
	if v, err := strconv.Atoi(os.Getenv("SENV_STRESS_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	if v, err := strconv.Atoi(os.Getenv("SENV_STRESS_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	return trials, time.Duration(secs) * time.Second
}

// TestStressStageSwap: issue 11 item 1 at length. A failure is a run that
// used the attacker's tree, or one that went ahead although the stage
// dir's parent is writable by others.
func TestStressStageSwap(t *testing.T) {
	trials, d := stressBounds(t, 5000)
	w := newSwapWorld(t, 0o775)
	runs, hijacked, refused, _ := w.race(d, trials)
	failures := hijacked + runs - refused
	fmt.Printf("stage swap: %d trials, %d failures\n", runs, failures)
	if failures != 0 {
		t.Errorf("%d trials, %d failures (%d used the attacker's tree)", runs, failures, hijacked)
	}
}

// TestStressCacheTrust: issue 11 item 2 with a race. Another user (nobody)
// keeps exchanging the victim's cache entry with his own entry of the same
// ID (renameat2 RENAME_EXCHANGE; done as root here, which only widens the
// attack); the victim stages the entry again and again. A failure is a
// staging that put the attacker's python on the node.
func TestStressCacheTrust(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to make files of another user")
	}
	trials, d := stressBounds(t, 300)
	c, err := OpenCache(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := "0123456789abcdef"
	mine := filepath.Join(t.TempDir(), "env")
	writeEnv(t, mine, victimPython)
	if _, err := c.Publish(&Meta{ID: id, Manager: "venv"}, testLock(), mine); err != nil {
		t.Fatal(err)
	}
	// the attacker's entry, published elsewhere under the same ID, then
	// moved next to the victim's and handed to the attacker
	evilCache, err := OpenCache(filepath.Join(filepath.Dir(c.Root), "evil"), nil)
	if err != nil {
		t.Fatal(err)
	}
	theirs := filepath.Join(t.TempDir(), "env")
	writeEnv(t, theirs, attackerPython)
	if _, err := evilCache.Publish(&Meta{ID: id, Manager: "venv"}, testLock(), theirs); err != nil {
		t.Fatal(err)
	}
	swap := filepath.Join(c.Root, "envs", ".swap")
	if err := os.Rename(evilCache.Entry(id), swap); err != nil {
		t.Fatal(err)
	}
	chownTree(t, swap, 65534, 65534)
	s, err := OpenStage(filepath.Join(t.TempDir(), "stage"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			_ = unix.Renameat2(unix.AT_FDCWD, c.Entry(id), unix.AT_FDCWD, swap, unix.RENAME_EXCHANGE)
		}
	}()
	runs, failures, staged := 0, 0, 0
	deadline := time.Now().Add(d)
	for ; runs < trials && time.Now().Before(deadline); runs++ {
		if _, err := s.FromCache(c, id, nil, nil); err != nil {
			continue // refused (the attacker's was in place) or raced
		}
		staged++
		if b, _ := os.ReadFile(filepath.Join(s.Prefix(id), "bin", "python")); string(b) != victimPython {
			failures++
		}
	}
	stop.Store(true)
	wg.Wait()
	fmt.Printf("cache trust: %d trials, %d failures (%d staged, the rest refused)\n", runs, failures, staged)
	if failures != 0 {
		t.Errorf("%d trials, %d failures", runs, failures)
	}
}
