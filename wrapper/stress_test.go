//go:build stress

package wrapper_test

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/internal/wheelhouse"
)

// The stress tests run with `make stress` (go test -tags stress), not with
// `make unit`. Each loops a number of times set by an environment variable;
// the defaults finish in a few minutes on 2 CPUs. Each prints
// "NAME: N trials, M failures" and fails when M > 0, after all its trials.
//
//	SENV_STRESS_CRASH_TRIALS  SIGKILLs of senv in TestStressCrash (default 20)
//	SENV_STRESS_HERD_ROUNDS   cold herds in TestStressHerd (default 3)
//	SENV_STRESS_HERD_SIZE     concurrent runs per herd (default 16)
//	SENV_STRESS_GC_RUNS       runs in TestStressGC, under a gc loop (default 48)
func stressCount(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// stressResult prints the summary line and fails the test when a trial
// failed; failures holds a line per failed trial.
func stressResult(t *testing.T, trials int, failures []string) {
	t.Helper()
	fmt.Printf("%s: %d trials, %d failures\n", t.Name(), trials, len(failures))
	for _, f := range failures {
		t.Error(f)
	}
}

// entryFiles are what a published cache entry holds.
var entryFiles = []string{"env.tar.zst", "manifest.json", "manifest.gob", "meta.json", "lock.toml"}

// whole returns an error when a reader could see a half-written env: a
// published cache entry missing a file or with an unreadable manifest or
// metadata, or a staged env marked ready that differs from its manifest.
func (s *sandbox) whole() error {
	cache := envs.Cache{Root: filepath.Join(s.cache, "v1")}
	stage := envs.Stage{Dir: s.stage}
	for _, id := range s.entries() {
		for _, name := range entryFiles {
			if _, err := os.Stat(filepath.Join(cache.Entry(id), name)); err != nil {
				return fmt.Errorf("cache entry %s is half-written: %w", id, err)
			}
		}
		if _, err := cache.Meta(id); err != nil {
			return fmt.Errorf("cache entry %s: %w", id, err)
		}
	}
	dirs, _ := os.ReadDir(s.stage)
	for _, d := range dirs {
		id := d.Name()
		if !d.IsDir() || !stage.Ready(id) {
			continue
		}
		m, err := cache.Manifest(id)
		if err != nil {
			return fmt.Errorf("env %s is staged but its cache entry is not readable: %w", id, err)
		}
		if err := envs.Verify(stage.Prefix(id), m); err != nil {
			return fmt.Errorf("staged env %s is marked ready but not whole: %w", id, err)
		}
	}
	return nil
}

// waitNoProcs polls until no process of the sandbox's senv runs (or of
// process group pgid) is left, for up to 10s, and says which are left.
func (s *sandbox) waitNoProcs(pgid int) error {
	deadline := time.Now().Add(10 * time.Second)
	for left := s.procsOf(pgid); len(left) > 0; left = s.procsOf(pgid) {
		if time.Now().After(deadline) {
			s.killLeftovers(pgid)
			return fmt.Errorf("processes of the killed senv still run 10s later: %v", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// TestStressCrash SIGKILLs senv's own pid (not its group: its tools must
// die with it) at a random point of a cold run (solve, build, pack,
// publish, stage) or a warm one (stage), alternating venv and the fast
// manager. After each kill no process of it may be left, no half-written
// entry may be visible, and a clean run must succeed; at the end no temp
// dir of any run is left.
func TestStressCrash(t *testing.T) {
	trials := stressCount("SENV_STRESS_CRASH_TRIALS", 20)
	s := newSandbox(t)
	if _, err := wheelhouse.Build(s.wh, wheelhouse.Wheel{Name: "bulk", Version: "1.0", Modules: 1500}); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(s.dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	withTmp := func(cmd *exec.Cmd) *exec.Cmd { cmd.Env = append(cmd.Env, "TMPDIR="+tmp); return cmd }
	type kind struct {
		args       []string
		cold, warm time.Duration // how long a run takes from an empty cache, and staging only
	}
	var kinds []kind
	for _, manager := range []string{"venv", fastManager()} {
		k := kind{args: append(append([]string{"run"}, s.pipArgs(manager, "alpha", "bulk")...), "--", "python", "-c", "import alpha, bulk.m1499")}
		for _, warm := range []bool{false, true} {
			if warm {
				os.RemoveAll(s.stage)
			}
			start := time.Now()
			if out, err := withTmp(s.cmd(k.args...)).CombinedOutput(); err != nil {
				t.Fatalf("%s run before the trials: %v\n%s", manager, err, out)
			}
			if warm {
				k.warm = time.Since(start)
			} else {
				k.cold = time.Since(start)
			}
		}
		t.Logf("%s: cold run %s, staging only %s", manager, k.cold, k.warm)
		kinds = append(kinds, k)
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	var failures []string
	killed := 0
	for i := 0; i < trials; i++ {
		k := kinds[i%len(kinds)]
		window := k.cold
		os.RemoveAll(s.stage)
		if (i/len(kinds))%2 == 0 {
			os.RemoveAll(s.cache)
		} else {
			window = k.warm
		}
		delay := time.Duration(rng.Int63n(int64(window)))
		fail := func(format string, args ...any) {
			failures = append(failures, fmt.Sprintf("trial %d (%s, killed after %s): ", i, k.args[2], delay)+fmt.Sprintf(format, args...))
		}
		cmd := withTmp(s.cmd(k.args...))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(delay, func() { _ = cmd.Process.Kill() }) // senv alone, not its group; safe after Wait
		err := cmd.Wait()
		timer.Stop()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == -1 {
			killed++
		}
		if err := s.waitNoProcs(cmd.Process.Pid); err != nil {
			fail("%v", err)
		}
		if err := s.whole(); err != nil {
			fail("after the kill: %v", err)
		}
		if out, err := withTmp(s.cmd(k.args...)).CombinedOutput(); err != nil {
			fail("the next run failed: %v\n%s", err, out)
		}
		if err := s.whole(); err != nil {
			fail("after the next run: %v", err)
		}
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		failures = append(failures, fmt.Sprintf("temp dirs left after the last clean run: %d, e.g. %s", len(ents), ents[0].Name()))
	}
	if left := s.tmpLeft(); len(left) != 0 {
		failures = append(failures, fmt.Sprintf("cache temp files left: %v", left))
	}
	t.Logf("%d of %d trials killed senv mid-run", killed, trials)
	stressResult(t, trials, failures)
}

// TestStressHerd starts many `senv run` of one env at once on an empty
// cache, round after round: every run must succeed, with exactly one solve
// and one build among them, one cache entry and no temp files.
func TestStressHerd(t *testing.T) {
	rounds := stressCount("SENV_STRESS_HERD_ROUNDS", 3)
	size := stressCount("SENV_STRESS_HERD_SIZE", 16)
	s := newSandbox(t)
	var failures []string
	for r := 0; r < rounds; r++ {
		os.RemoveAll(s.cache)
		os.RemoveAll(s.stage)
		manager := []string{fastManager(), "venv"}[r%2]
		args := append(append([]string{"run"}, s.pipArgs(manager, "alpha")...), "--", "alpha-hello")
		var wg sync.WaitGroup
		var builds, solves, failed atomic.Int64
		var firstErr atomic.Value
		for i := 0; i < size; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, errOut, code := s.run(args...)
				builds.Add(int64(strings.Count(errOut, " building with ")))
				solves.Add(int64(strings.Count(errOut, "senv: solved spec")))
				if code != 0 || strings.TrimSpace(out) != "hello from alpha 1.0" {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("exit %d, stdout %q, stderr:\n%s", code, out, errOut))
				}
			}()
		}
		wg.Wait()
		var problems []string
		if n := failed.Load(); n > 0 {
			problems = append(problems, fmt.Sprintf("%d of %d runs failed, the first: %s", n, size, firstErr.Load()))
		}
		if builds.Load() != 1 || solves.Load() != 1 {
			problems = append(problems, fmt.Sprintf("%d builds and %d solves, want 1 each", builds.Load(), solves.Load()))
		}
		if e := s.entries(); len(e) != 1 {
			problems = append(problems, fmt.Sprintf("cache entries %v, want one", e))
		}
		if left := s.tmpLeft(); len(left) != 0 {
			problems = append(problems, fmt.Sprintf("cache temp files left: %v", left))
		}
		if len(problems) > 0 {
			failures = append(failures, fmt.Sprintf("round %d (%s, %d runs): %s", r, manager, size, strings.Join(problems, "; ")))
		}
	}
	stressResult(t, rounds, failures)
}

// TestStressGC runs `senv gc --older-than 0` in a loop while workers run
// payloads in two envs, staging them again and again as gc removes them:
// each payload imports every module of its env, so a run that saw its env
// removed under it fails.
func TestStressGC(t *testing.T) {
	runs := stressCount("SENV_STRESS_GC_RUNS", 48)
	s := newSandbox(t)
	if _, err := wheelhouse.Build(s.wh, wheelhouse.Wheel{Name: "bulk", Version: "1.0", Modules: 1500}); err != nil {
		t.Fatal(err)
	}
	const importAll = "import importlib; [importlib.import_module('bulk.m%d' % i) for i in range(1500)]; print('ok')"
	specs := [][]string{
		append(append([]string{"run"}, s.pipArgs(fastManager(), "alpha", "bulk")...), "--", "python", "-c", "import alpha; "+importAll),
		append(append([]string{"run"}, s.pipArgs(fastManager(), "gamma", "bulk")...), "--", "python", "-c", "import gamma; "+importAll),
	}
	for _, a := range specs {
		if _, errOut, code := s.run(a...); code != 0 {
			t.Fatalf("warm-up failed: %s", errOut)
		}
	}
	var stop atomic.Bool
	var gcRuns atomic.Int64
	var mu sync.Mutex
	var failures []string
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		for !stop.Load() {
			if _, errOut, code := s.run("gc", "--older-than", "0"); code != 0 {
				mu.Lock()
				failures = append(failures, "gc failed: "+errOut)
				mu.Unlock()
			}
			gcRuns.Add(1)
		}
	}()
	const workers = 4
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(runs); i = next.Add(1) - 1 {
				out, errOut, code := s.run(specs[i%2]...)
				if code != 0 || strings.TrimSpace(out) != "ok" {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("run %d failed during gc: exit %d, stdout %q\n%s", i, code, out, errOut))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	<-gcDone
	if gcRuns.Load() < 3 {
		failures = append(failures, fmt.Sprintf("gc ran only %d times during the load", gcRuns.Load()))
	}
	t.Logf("%d runs, %d gc passes", runs, gcRuns.Load())
	stressResult(t, runs, failures)
}
