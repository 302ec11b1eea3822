package wrapper_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
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

// slowBackend is the in-tree PEP 517 backend of the slow sdist: metadata
// comes at once (the solve needs it), but build_wheel, which the installer
// runs in a subprocess of its own, writes its pid to PIDFILE and waits for
// RELEASE to exist before it builds. A kill of senv then lands, every time,
// while a grandchild of the build is running.
const slowBackend = `import hashlib, base64, os, time, zipfile

NAME, VERSION = "slow", "1.0"
DI = NAME + "-" + VERSION + ".dist-info"
FILES = {
    NAME + "/__init__.py": "X = 1\n",
    DI + "/METADATA": "Metadata-Version: 2.1\nName: slow\nVersion: 1.0\n",
    DI + "/WHEEL": "Wheel-Version: 1.0\nGenerator: senv-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}

def get_requires_for_build_wheel(config_settings=None):
    return []

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    os.makedirs(os.path.join(metadata_directory, DI))
    with open(os.path.join(metadata_directory, DI, "METADATA"), "w") as f:
        f.write(FILES[DI + "/METADATA"])
    return DI

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open(PIDFILE + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(PIDFILE + ".tmp", PIDFILE)
    deadline = time.time() + 600
    while not os.path.exists(RELEASE) and time.time() < deadline:
        time.sleep(0.02)
    name = NAME + "-" + VERSION + "-py3-none-any.whl"
    record = ""
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        for path, text in FILES.items():
            z.writestr(path, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
            record += "%s,sha256=%s,%d\n" % (path, digest, len(text))
        z.writestr(DI + "/RECORD", record + DI + "/RECORD,,\n")
    return name
`

// slowSdist writes the sdist of package "slow" (slowBackend) into the
// sandbox wheelhouse and returns the pid file its build_wheel writes and
// the file that releases it. The paths make the sdist, and so its hash,
// unique: no installer's cache has a wheel built from it.
func (s *sandbox) slowSdist(t *testing.T) (pidFile, release string) {
	t.Helper()
	pidFile, release = filepath.Join(s.dir, "backend.pid"), filepath.Join(s.dir, "backend.release")
	files := []struct{ name, body string }{
		{"PKG-INFO", "Metadata-Version: 2.1\nName: slow\nVersion: 1.0\n"},
		{"pyproject.toml", "[build-system]\nrequires = []\nbuild-backend = \"slowbackend\"\nbackend-path = [\".\"]\n"},
		{"slowbackend.py", fmt.Sprintf("PIDFILE = %q\nRELEASE = %q\n", pidFile, release) + slowBackend},
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		hdr := &tar.Header{Name: "slow-1.0/" + f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: time.Unix(1700000000, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.wh, "slow-1.0.tar.gz"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return pidFile, release
}

// proc is one live process, as /proc shows it.
type proc struct {
	pid, pgid int
	cmdline   string
}

func (p proc) String() string { return fmt.Sprintf("pid %d (pgid %d): %s", p.pid, p.pgid, p.cmdline) }

// procsOf returns the live processes (not zombies) that belong to the
// sandbox's senv runs: their environment names the sandbox's stage (every
// tool inherits it), their command line names the sandbox, or their
// process group is one of pgids (a senv started as a group leader).
func (s *sandbox) procsOf(pgids ...int) []proc {
	var out []proc
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// PID (COMM) STATE PPID PGRP ...; COMM may hold spaces and parens
		rest := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(rest) < 3 || rest[0] == "Z" {
			continue
		}
		pgid, _ := strconv.Atoi(rest[2])
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		p := proc{pid: pid, pgid: pgid, cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))}
		mine := bytes.Contains(environ, []byte("SENV_STAGE_DIR="+s.stage+"\x00")) || strings.Contains(p.cmdline, s.dir)
		for _, g := range pgids {
			mine = mine || pgid == g
		}
		if mine {
			out = append(out, p)
		}
	}
	return out
}

// killLeftovers SIGKILLs whatever procsOf finds, so that a failed test
// leaves nothing running.
func (s *sandbox) killLeftovers(pgids ...int) {
	for _, p := range s.procsOf(pgids...) {
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// waitFile polls for path, up to a minute.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for _, err := os.Stat(path); err != nil; _, err = os.Stat(path) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCrashKillsBuildTools: SIGKILL of senv's own pid (not its group)
// while a grandchild of the build runs (the PEP 517 backend the installer
// started) kills every process of the build with it, and the next run
// builds the env at once, with no temp dirs left of either run. Before,
// pip and venv went on writing into the prefix and the next run could fail
// with "directory not empty".
func TestCrashKillsBuildTools(t *testing.T) {
	managers := []string{"venv"}
	if _, err := exec.LookPath("uv"); err == nil {
		managers = append(managers, "uv")
	} else {
		t.Log("uv is not on PATH: only the venv manager is tried")
	}
	for _, manager := range managers {
		t.Run(manager, func(t *testing.T) {
			s := newSandbox(t)
			pidFile, release := s.slowSdist(t)
			tmp := filepath.Join(s.dir, "tmp")
			if err := os.Mkdir(tmp, 0o700); err != nil {
				t.Fatal(err)
			}
			args := append(append([]string{"run"}, s.pipArgs(manager, "slow")...), "--", "python", "-c", "import slow")
			cmd := s.cmd(args...)
			cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var errOut bytes.Buffer
			cmd.Stderr = &errOut
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			senv := cmd.Process.Pid
			t.Cleanup(func() {
				os.WriteFile(release, nil, 0o644)
				s.killLeftovers(senv)
			})
			waitFile(t, pidFile) // the backend runs: mid-build
			if err := syscall.Kill(senv, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			if !strings.Contains(errOut.String(), "building with") {
				t.Fatalf("senv was not building when killed:\n%s", errOut.String())
			}
			deadline := time.Now().Add(10 * time.Second)
			for left := s.procsOf(senv); len(left) > 0; left = s.procsOf(senv) {
				if time.Now().After(deadline) {
					t.Fatalf("processes of the killed senv still run 10s later:\n%v", left)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := os.WriteFile(release, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			next := s.cmd(args...)
			next.Env = append(next.Env, "TMPDIR="+tmp)
			out, err := next.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "building with") {
				t.Fatalf("the run after the kill: %v\n%s", err, out)
			}
			if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Errorf("temp dirs left after the next run: %v", names)
			}
			if left := s.tmpLeft(); len(left) != 0 {
				t.Errorf("cache temp files left: %v", left)
			}
		})
	}
}

// TestGCSweepsScratch: `senv gc` removes the temp dirs a killed senv left
// (nobody holds their lock) and keeps a live one's.
func TestGCSweepsScratch(t *testing.T) {
	s := newSandbox(t)
	tmp := filepath.Join(s.dir, "tmp")
	t.Setenv("TMPDIR", tmp) // for envs.NewScratch here, and the senv below
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	live, err := envs.NewScratch("solve", nil) // first: it sweeps too
	if err != nil {
		t.Fatal(err)
	}
	defer live.Remove()
	dead := filepath.Join(tmp, "senv-build-123")
	if err := os.MkdirAll(filepath.Join(dead, "pip-unpack-x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := s.run("gc"); code != 0 {
		t.Fatalf("gc: %s", errOut)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("gc left a dead run's temp dir: %v", err)
	}
	if _, err := os.Stat(live.Path); err != nil {
		t.Errorf("gc removed a live run's temp dir: %v", err)
	}
}
