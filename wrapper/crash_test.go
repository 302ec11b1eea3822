package wrapper_test

import (
	"encoding/json"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/internal/wheelhouse"
)

// crashTrials is the number of SIGKILL trials: 30 by default, more with
// SENV_CRASH_TRIALS (the long mode).
func crashTrials() int {
	if n, err := strconv.Atoi(os.Getenv("SENV_CRASH_TRIALS")); err == nil && n > 0 {
		return n
	}
	return 30
}

// verifyStaged checks every staged env of the sandbox against its cache
// manifest, file by file.
func (s *sandbox) verifyStaged(t *testing.T) {
	t.Helper()
	cache := envs.Cache{Root: filepath.Join(s.cache, "v1")}
	stage := envs.Stage{Dir: s.stage}
	for _, id := range s.entries() {
		if !stage.Ready(id) {
			continue
		}
		m, err := cache.Manifest(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := envs.Verify(stage.Prefix(id), m); err != nil {
			t.Fatalf("staged env is not whole after a crash: %v", err)
		}
	}
}

// TestCrashRecovery kills `senv run` (and everything it started) with
// SIGKILL at random points of solve, build, pack, publish and stage; the
// next run must succeed with no manual cleanup, on an env that matches its
// manifest file by file.
func TestCrashRecovery(t *testing.T) {
	s := newSandbox(t)
	// A package with a few thousand modules makes every phase long enough
	// for random kills to land inside it.
	if _, err := wheelhouse.Build(s.wh, wheelhouse.Wheel{Name: "bulk", Version: "1.0", Modules: 1500}); err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{"run"}, s.pipArgs(fastManager(), "alpha", "bulk")...),
		"--", "python", "-c", "import alpha, bulk, bulk.m1499")
	start := time.Now()
	if _, errOut, code := s.run(args...); code != 0 {
		t.Fatalf("cold run failed: %s", errOut)
	}
	cold := time.Since(start)
	stageOnly := func() time.Duration {
		os.RemoveAll(s.stage)
		start := time.Now()
		if _, errOut, code := s.run(args...); code != 0 {
			t.Fatalf("warm run failed: %s", errOut)
		}
		return time.Since(start)
	}()
	t.Logf("cold run %s, warm (stage only) %s", cold, stageOnly)

	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	killed := 0
	for i := 0; i < crashTrials(); i++ {
		window := cold
		if i%2 == 0 {
			os.RemoveAll(s.cache) // cold: kill lands in solve, build, pack or publish
			os.RemoveAll(s.stage)
		} else {
			os.RemoveAll(s.stage) // warm: kill lands in staging
			window = stageOnly
		}
		cmd := s.cmd(args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.Int63n(int64(window)))
		timer := time.AfterFunc(delay, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
		err := cmd.Wait()
		timer.Stop()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == -1 {
			killed++
		}
		if _, errOut, code := s.run(args...); code != 0 {
			t.Fatalf("trial %d (killed after %s): the next run failed:\n%s", i, delay, errOut)
		}
		s.verifyStaged(t)
	}
	if killed < crashTrials()/3 {
		t.Errorf("only %d of %d trials were killed mid-run: the kill windows are off", killed, crashTrials())
	}
	if left := s.tmpLeft(); len(left) != 0 {
		t.Errorf("temp files left in the cache after recovery: %v", left)
	}
	t.Logf("%d trials, %d killed mid-run", crashTrials(), killed)
}

// TestGCUnderLoad runs `senv gc --older-than 0` in a loop while 8 workers
// keep running payloads in two envs: no run may fail.
func TestGCUnderLoad(t *testing.T) {
	s := newSandbox(t)
	specs := [][]string{
		append(append([]string{"run"}, s.pipArgs(fastManager(), "alpha")...), "--", "python", "-c", "import alpha, beta"),
		append(append([]string{"run"}, s.pipArgs(fastManager(), "gamma")...), "--", "gamma-hello"),
	}
	for _, a := range specs {
		if _, errOut, code := s.run(a...); code != 0 {
			t.Fatalf("warm-up failed: %s", errOut)
		}
	}
	var stop atomic.Bool
	var gcRuns atomic.Int64
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		for !stop.Load() {
			if _, errOut, code := s.run("gc", "--older-than", "0"); code != 0 {
				t.Errorf("gc failed: %s", errOut)
			}
			gcRuns.Add(1)
		}
	}()
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 6; i++ {
				if _, errOut, code := s.run(specs[(w+i)%2]...); code != 0 {
					failures.Add(1)
					t.Errorf("worker %d run %d failed during gc: %s", w, i, errOut)
				}
			}
		}(w)
	}
	wg.Wait()
	stop.Store(true)
	<-gcDone
	if gcRuns.Load() < 3 {
		t.Errorf("gc ran only %d times during the load", gcRuns.Load())
	}
	t.Logf("48 runs, %d gc passes, %d failures", gcRuns.Load(), failures.Load())
	var ls []json.RawMessage
	out, _, _ := s.run("ls", "--json")
	_ = json.Unmarshal([]byte(out), &ls)
}
