package wrapper_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/senv-hpc/senv/internal/wheelhouse"
)

// These tests drive the real senv binary as separate processes: that is
// the only honest way to test locks, crashes and concurrent jobs.

var senvBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "senv-bin-")
	if err != nil {
		panic(err)
	}
	senvBin = filepath.Join(dir, "senv")
	_, file, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", senvBin, "./cmd/senv")
	build.Dir = filepath.Join(filepath.Dir(file), "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "failed to build senv: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sandbox is one isolated senv world: its own cache, stage and wheelhouse.
type sandbox struct {
	t     *testing.T
	dir   string
	cache string
	stage string
	wh    string
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	dir := t.TempDir()
	wh, err := wheelhouse.BuildAll(filepath.Join(dir, "wheels"), wheelhouse.Standard)
	if err != nil {
		t.Fatal(err)
	}
	return &sandbox{t: t, dir: dir, cache: filepath.Join(dir, "cache"), stage: filepath.Join(dir, "stage"), wh: wh}
}

func (s *sandbox) env() []string {
	py := "python3"
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		py = "/usr/bin/python3"
	}
	return append(os.Environ(), "SENV_CACHE_DIR="+s.cache, "SENV_STAGE_DIR="+s.stage, "SENV_PYTHON="+py, "SENV_LOCK_TIMEOUT=3m")
}

// cmd returns an unstarted `senv ARGS...` in the sandbox.
func (s *sandbox) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(senvBin, args...)
	cmd.Env = s.env()
	cmd.Dir = s.dir
	return cmd
}

// run runs senv and returns stdout, stderr and the exit code.
func (s *sandbox) run(args ...string) (string, string, int) {
	cmd := s.cmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("senv %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// pipArgs is the standard spec: alpha (and its dependency beta) from the
// sandbox wheelhouse, built by manager.
func (s *sandbox) pipArgs(manager string, pkgs ...string) []string {
	args := []string{"--manager", manager, "--find-links", s.wh, "--no-index"}
	for _, p := range pkgs {
		args = append(args, "--pip", p)
	}
	return args
}

// tmpLeft lists files left in the cache's temp dir.
func (s *sandbox) tmpLeft() []string {
	ents, _ := os.ReadDir(filepath.Join(s.cache, "v1", "tmp"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func (s *sandbox) entries() []string {
	ents, _ := os.ReadDir(filepath.Join(s.cache, "v1", "envs"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func fastManager() string {
	if _, err := exec.LookPath("uv"); err == nil {
		return "uv"
	}
	return "venv"
}

// TestConcurrentColdStart: 16 `senv run` of one spec on a cold cache give
// exactly one build, 16 successes, one cache entry and no temp files.
func TestConcurrentColdStart(t *testing.T) {
	s := newSandbox(t)
	const n = 16
	args := append(append([]string{"run"}, s.pipArgs(fastManager(), "alpha")...), "--", "alpha-hello")
	var wg sync.WaitGroup
	type result struct {
		out, err string
		code     int
	}
	results := make([]result, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			o, e, c := s.run(args...)
			results[i] = result{o, e, c}
		}(i)
	}
	wg.Wait()
	builds, solves := 0, 0
	for i, r := range results {
		if r.code != 0 || strings.TrimSpace(r.out) != "hello from alpha 1.0" {
			t.Errorf("run %d: exit %d, stdout %q, stderr:\n%s", i, r.code, r.out, r.err)
		}
		builds += strings.Count(r.err, " building with ")
		solves += strings.Count(r.err, "senv: solved spec")
	}
	if builds != 1 || solves != 1 {
		t.Errorf("%d builds and %d solves across %d runs, want exactly 1 each", builds, solves, n)
	}
	if e := s.entries(); len(e) != 1 {
		t.Errorf("cache entries: %v, want one", e)
	}
	if left := s.tmpLeft(); len(left) != 0 {
		t.Errorf("temp files left in the cache: %v", left)
	}
}

// TestPayloadStatusAndArgs: the payload's exit status is senv's, arguments
// pass through untouched, and a script runs with its shebang's interpreter.
func TestPayloadStatusAndArgs(t *testing.T) {
	s := newSandbox(t)
	script := filepath.Join(s.dir, "job.sh")
	body := "#!/bin/bash\n#ENV pip alpha\n#ENV find-links " + s.wh + "\n#ENV no-index\n#ENV manager " + fastManager() +
		"\nprintf '%s|' \"$@\"; echo \"$BASH_VERSION\" | cut -c1; alpha-hello; exit 42\n"
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := s.run("run", script, "a b", "$(x)", "")
	if code != 42 {
		t.Fatalf("exit %d, want the payload's 42; stderr:\n%s", code, errOut)
	}
	if want := "a b|$(x)||"; !strings.HasPrefix(out, want) {
		t.Errorf("args came through as %q, want prefix %q", out, want)
	}
	if !strings.Contains(out, "hello from alpha 1.0") {
		t.Errorf("console script did not run: %q", out)
	}
}

// TestInjection: setenv values and package specs holding $(...), backticks,
// quotes and ; reach the payload as literal text and execute nothing.
func TestInjection(t *testing.T) {
	s := newSandbox(t)
	canary := filepath.Join(s.dir, "pwned")
	hostile := []string{
		"$(touch " + canary + ")",
		"`touch " + canary + "`",
		"'; touch " + canary + "; '",
		"\"; touch " + canary + "; \"",
		"a;touch " + canary,
		"$HOME ${PATH} * ? [a] ~ \\ \t end",
	}
	for i, v := range hostile {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			out, errOut, code := s.run("run", "--setenv", "HOSTILE="+v, "--", "printenv", "HOSTILE")
			if code != 0 || out != v+"\n" {
				t.Errorf("setenv %q: exit %d, payload saw %q\n%s", v, code, out, errOut)
			}
			_, errOut, code = s.run(append(append([]string{"run"}, s.pipArgs(fastManager(), "alpha"+v)...), "--", "true")...)
			if code == 0 {
				t.Errorf("pip spec %q was accepted", v)
			}
			if _, err := os.Stat(canary); err == nil {
				t.Fatalf("value %q executed a command (stderr: %s)", v, errOut)
			}
		})
	}
}

// TestSignalsReachPayload: senv execs the payload, so SIGTERM sent to the
// pid that was `senv run` is the payload's to handle.
func TestSignalsReachPayload(t *testing.T) {
	s := newSandbox(t)
	ready := filepath.Join(s.dir, "ready")
	script := "trap 'echo got TERM; exit 42' TERM; touch " + ready + "; while :; do sleep 0.05; done"
	cmd := s.cmd("run", "--setenv", "X=1", "--", "sh", "-c", script)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("payload did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 42 || !strings.Contains(out.String(), "got TERM") {
		t.Errorf("payload did not handle SIGTERM: %v, output %q", err, out.String())
	}
}

// TestActivateFormats: every format of `senv activate` describes the same
// environment.
func TestActivateFormats(t *testing.T) {
	s := newSandbox(t)
	spec := append(s.pipArgs(fastManager(), "gamma"), "--setenv", "MSG=a b'c")
	get := func(format string) string {
		out, errOut, code := s.run(append([]string{"activate", "--format", format}, spec...)...)
		if code != 0 {
			t.Fatalf("activate --format %s: %d %s", format, code, errOut)
		}
		return out
	}
	sh := get("sh")
	out, err := exec.Command("/bin/sh", "-c", sh+"\ngamma-hello; printf '%s\\n' \"$MSG\"").CombinedOutput()
	if err != nil || string(out) != "hello from gamma 2.0\na b'c\n" {
		t.Errorf("eval of sh format: %v %q", err, out)
	}
	var js struct {
		Set map[string]string `json:"set"`
	}
	if err := json.Unmarshal([]byte(get("json")), &js); err != nil || js.Set["MSG"] != "a b'c" || !strings.Contains(js.Set["PATH"], s.stage) {
		t.Errorf("json format: %v %+v", err, js)
	}
	tp := get("task-prolog")
	if !strings.Contains(tp, "export MSG=a b'c\n") || !strings.Contains(tp, "export VIRTUAL_ENV="+s.stage) {
		t.Errorf("task-prolog format:\n%s", tp)
	}
	for _, l := range strings.Split(strings.TrimSpace(tp), "\n") {
		if !strings.HasPrefix(l, "export ") && !strings.HasPrefix(l, "unset ") {
			t.Errorf("task-prolog line outside Slurm's protocol: %q", l)
		}
	}
	env := get("env")
	out, err = exec.Command("/bin/sh", "-c", "set -a; "+strings.ReplaceAll(env, "\n", "; ")+" printf '%s\\n' \"$MSG\"").CombinedOutput()
	if err != nil || string(out) != "a b'c\n" {
		t.Errorf("env format does not read back: %v %q\n%s", err, out, env)
	}
}

// TestGCSparesEvaledEnv: a shell that evals `senv activate` (the injected
// block of a batch script does) holds a lease for as long as it lives; gc
// removes the staged env only after that shell is gone.
func TestGCSparesEvaledEnv(t *testing.T) {
	s := newSandbox(t)
	out, errOut, code := s.run(append([]string{"activate"}, s.pipArgs(fastManager(), "gamma")...)...)
	if code != 0 {
		t.Fatalf("activate: %s", errOut)
	}
	ready, release := filepath.Join(s.dir, "ready"), filepath.Join(s.dir, "release")
	job := exec.Command("/bin/sh", "-c", out+"\ntouch "+ready+"; while [ ! -e "+release+" ]; do sleep 0.05; done; gamma-hello")
	var jobOut bytes.Buffer
	job.Stdout = &jobOut
	if err := job.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, err := os.Stat(ready); err != nil; _, err = os.Stat(ready) {
		if time.Now().After(deadline) {
			t.Fatal("job shell did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	staged := func() int {
		ents, _ := os.ReadDir(s.stage)
		n := 0
		for _, e := range ents {
			if e.Name() != ".senv" {
				n++
			}
		}
		return n
	}
	if _, errOut, code := s.run("gc", "--older-than", "0"); code != 0 {
		t.Fatalf("gc: %s", errOut)
	}
	if staged() != 1 {
		t.Fatal("gc removed an env a running shell had activated")
	}
	os.WriteFile(release, nil, 0o644)
	if err := job.Wait(); err != nil || jobOut.String() != "hello from gamma 2.0\n" {
		t.Fatalf("job: %v %q", err, jobOut.String())
	}
	if _, errOut, code := s.run("gc", "--older-than", "0"); code != 0 {
		t.Fatalf("gc: %s", errOut)
	}
	if staged() != 0 {
		t.Error("gc kept an env nobody uses any more")
	}
}

// TestScriptLock: `senv lock` writes SCRIPT.lock; later runs build exactly
// it without solving, even on an empty cache; a lock for another spec is a
// spec error, and --upgrade solves again.
func TestScriptLock(t *testing.T) {
	s := newSandbox(t)
	script := filepath.Join(s.dir, "job.sh")
	write := func(pin string) {
		body := "#!/bin/sh\n#ENV pip alpha beta" + pin + "\n#ENV find-links " + s.wh + "\n#ENV no-index\n#ENV manager " + fastManager() +
			"\npython -c 'import beta; print(beta.__version__)'\n"
		if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	if _, errOut, code := s.run("lock", script); code != 0 {
		t.Fatalf("lock: %s", errOut)
	}
	data, err := os.ReadFile(script + ".lock")
	if err != nil || !strings.Contains(string(data), `name = "beta"`) || !strings.Contains(string(data), `version = "1.2"`) {
		t.Fatalf("SCRIPT.lock: %v\n%s", err, data)
	}
	os.RemoveAll(s.cache) // a fresh cluster: only the lock file remains
	out, errOut, code := s.run("run", script)
	if code != 0 || out != "1.2\n" {
		t.Fatalf("run with SCRIPT.lock: %d %q\n%s", code, out, errOut)
	}
	if strings.Contains(errOut, "solved spec") {
		t.Errorf("a run with SCRIPT.lock solved again:\n%s", errOut)
	}
	write(" gamma") // the script changed: its lock is stale
	if _, errOut, code := s.run("run", script); code != 2 || !strings.Contains(errOut, "written for another spec") {
		t.Errorf("stale lock: exit %d, stderr %s", code, errOut)
	}
	if _, errOut, code := s.run("lock", "--upgrade", script); code != 0 {
		t.Fatalf("lock --upgrade: %s", errOut)
	}
	if out, errOut, code := s.run("run", script); code != 0 || out != "1.2\n" {
		t.Errorf("run after --upgrade: %d %q %s", code, out, errOut)
	}
}

// TestReadOnlyCache: using a ready entry needs no lock and no write access:
// another user (nobody) runs from a cache it cannot write to.
func TestReadOnlyCache(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run senv as another user")
	}
	s := newSandbox(t)
	args := append(append([]string{"run"}, s.pipArgs(fastManager(), "gamma")...), "--", "gamma-hello")
	if _, errOut, code := s.run(args...); code != 0 {
		t.Fatalf("build as root: %s", errOut)
	}
	// the reader's stage must carry the same path for the env to run there
	if err := os.RemoveAll(s.stage); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.stage, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chown(s.stage, 65534, 65534)
	for _, d := range []string{filepath.Dir(s.dir), s.dir, filepath.Dir(senvBin)} {
		os.Chmod(d, 0o755) // t.TempDir and its parent are 0700
	}
	before := s.entries()
	cmd := s.cmd(args...)
	cmd.Env = append(cmd.Env, "HOME=/nonexistent", "XDG_CONFIG_HOME=/nonexistent")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil || out.String() != "hello from gamma 2.0\n" {
		t.Fatalf("read-only use as nobody: %v %q\n%s", err, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "cache hit") || strings.Contains(errb.String(), "building") {
		t.Errorf("expected a plain cache hit:\n%s", errb.String())
	}
	if after := s.entries(); len(after) != len(before) {
		t.Errorf("cache changed: %v → %v", before, after)
	}
}

// TestIndexWithManyFilesPerVersion: an index serves one file per platform
// for a version; the lock must accept the one this node installs, not only
// the first hash listed.
func TestIndexWithManyFilesPerVersion(t *testing.T) {
	s := newSandbox(t)
	for _, tag := range []string{"py3-none-win_amd64", "py3-none-macosx_11_0_arm64"} {
		if _, err := wheelhouse.Build(s.wh, wheelhouse.Wheel{Name: "gamma", Version: "2.0", Tag: tag}); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []string{"venv", fastManager()} {
		out, errOut, code := s.run(append(append([]string{"run"}, s.pipArgs(m, "gamma")...), "--", "gamma-hello")...)
		if code != 0 || out != "hello from gamma 2.0\n" {
			t.Errorf("%s: exit %d %q\n%s", m, code, out, errOut)
		}
	}
}

// TestRunScriptHasModuleFunction: `senv run job.sh` runs the activation in
// the payload's own shell, so `module` works in the script body, as it does
// in a job submitted with senv sbatch.
func TestRunScriptHasModuleFunction(t *testing.T) {
	s := newSandbox(t)
	// a stand-in module system (Lmod itself is driven in the e2e tests)
	initScript := filepath.Join(s.dir, "init.sh")
	os.WriteFile(initScript, []byte("module() { echo \"module $*\"; }\n"), 0o644)
	script := filepath.Join(s.dir, "job.sh")
	os.WriteFile(script, []byte("#!/bin/bash\n#ENV module gcc/12\nmodule load extra/1\necho \"$0|$1\"\n"), 0o644)
	cmd := s.cmd("run", script, "arg one")
	cmd.Env = append(cmd.Env, "SENV_MODULE_INIT="+initScript)
	out, err := cmd.Output()
	if err != nil || string(out) != "module load gcc/12\nmodule load extra/1\n"+script+"|arg one\n" {
		t.Errorf("payload output %q, %v", out, err)
	}
}

// TestEvalAfterGCFails: an activation printed before gc removed the env
// must fail when evaluated, not point PATH at a deleted directory.
func TestEvalAfterGCFails(t *testing.T) {
	s := newSandbox(t)
	act, errOut, code := s.run(append([]string{"activate"}, s.pipArgs(fastManager(), "gamma")...)...)
	if code != 0 {
		t.Fatalf("activate: %s", errOut)
	}
	if _, errOut, code := s.run("gc", "--older-than", "0"); code != 0 {
		t.Fatalf("gc: %s", errOut)
	}
	out, err := exec.Command("/bin/sh", "-c", act+"\necho status=$?").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "status=1") || !strings.Contains(string(out), "was removed") {
		t.Errorf("eval after gc: %v\n%s", err, out)
	}
}

// TestBuildRepublishes: `senv build` of an env that is staged here but gone
// from the cache puts it back, so other nodes find it.
func TestBuildRepublishes(t *testing.T) {
	s := newSandbox(t)
	args := append([]string{"build"}, s.pipArgs(fastManager(), "gamma")...)
	if _, errOut, code := s.run(args...); code != 0 {
		t.Fatalf("build: %s", errOut)
	}
	os.RemoveAll(filepath.Join(s.cache, "v1", "envs"))
	os.Mkdir(filepath.Join(s.cache, "v1", "envs"), 0o755)
	if _, errOut, code := s.run(args...); code != 0 || !strings.Contains(errOut, "published") {
		t.Fatalf("second build: %d\n%s", code, errOut)
	}
	if e := s.entries(); len(e) != 1 {
		t.Errorf("cache entries after rebuild: %v", e)
	}
}

// TestRestagesRemovedEnv: a staged env whose directory was removed (a /tmp
// cleaner, a user's rm -rf) while its marker stayed is staged again from
// the cache, not run half-present.
func TestRestagesRemovedEnv(t *testing.T) {
	s := newSandbox(t)
	args := append(append([]string{"run"}, s.pipArgs(fastManager(), "gamma")...), "--", "python", "-c", "import gamma")
	if _, errOut, code := s.run(args...); code != 0 {
		t.Fatalf("first run: %s", errOut)
	}
	envDirs, _ := filepath.Glob(filepath.Join(s.stage, "[0-9a-f]*"))
	if len(envDirs) != 1 {
		t.Fatalf("staged envs: %v", envDirs)
	}
	os.RemoveAll(envDirs[0])
	_, errOut, code := s.run(args...)
	if code != 0 || !strings.Contains(errOut, "cache hit, staged") {
		t.Errorf("run after the env dir was removed: exit %d\n%s", code, errOut)
	}
}

// TestLsAndRmStageNone: `stage none` envs live in the cache's shared dir
// with no cache entry; senv ls lists them and senv rm removes them.
func TestLsAndRmStageNone(t *testing.T) {
	s := newSandbox(t)
	args := append(append([]string{"run"}, s.pipArgs(fastManager(), "gamma")...), "--stage", "none", "--", "python", "-c", "import gamma")
	if _, errOut, code := s.run(args...); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	ls := func() []map[string]any {
		out, errOut, code := s.run("ls", "--json")
		if code != 0 {
			t.Fatalf("ls: %s", errOut)
		}
		var rows []map[string]any
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("ls --json: %v\n%s", err, out)
		}
		return rows
	}
	rows := ls()
	if len(rows) != 1 || rows[0]["stage_none"] != true || !strings.HasPrefix(rows[0]["prefix"].(string), s.cache) {
		t.Fatalf("ls after a stage none run: %v", rows)
	}
	if out, _, _ := s.run("ls"); !strings.Contains(out, "stage none") {
		t.Errorf("ls table does not say stage none:\n%s", out)
	}
	id := rows[0]["id"].(string)
	if _, errOut, code := s.run("rm", id); code != 0 {
		t.Fatalf("rm %s: %s", id, errOut)
	}
	if rows := ls(); len(rows) != 0 {
		t.Errorf("ls after rm: %v", rows)
	}
	if _, err := os.Stat(filepath.Join(s.cache, "v1", "shared", id)); err == nil {
		t.Error("rm left the env in the shared dir")
	}
}

// TestCorruptCacheEntry: a cache entry damaged on the shared filesystem
// fails the job at staging with a message naming the env, leaves nothing
// staged, and a rebuild after `senv rm` works.
func TestCorruptCacheEntry(t *testing.T) {
	s := newSandbox(t)
	args := append(append([]string{"run"}, s.pipArgs(fastManager(), "gamma")...), "--", "python", "-c", "import gamma")
	if _, errOut, code := s.run(args...); code != 0 {
		t.Fatalf("first run: %s", errOut)
	}
	ids := s.entries()
	if len(ids) != 1 {
		t.Fatalf("entries: %v", ids)
	}
	archive := filepath.Join(s.cache, "v1", "envs", ids[0], "env.tar.zst")
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	os.Chmod(archive, 0o644)
	if err := os.WriteFile(archive, data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(s.stage) // another node: nothing staged yet
	_, errOut, code := s.run(args...)
	if code != 1 || !strings.Contains(errOut, ids[0]) || !strings.Contains(errOut, "sha256") || !strings.Contains(errOut, "senv rm") {
		t.Errorf("run with a corrupt entry: exit %d, want 1 with the env, the check and a hint\n%s", code, errOut)
	}
	if left, _ := filepath.Glob(filepath.Join(s.stage, ids[0])); len(left) != 0 {
		t.Errorf("a failed staging left %v", left)
	}
	if _, err := os.Stat(filepath.Join(s.stage, ".senv", ids[0]+".done")); err == nil {
		t.Error("a failed staging left the env marked ready")
	}
	if _, errOut, code := s.run("rm", ids[0]); code != 0 {
		t.Fatalf("rm: %s", errOut)
	}
	if _, errOut, code := s.run(args...); code != 0 {
		t.Errorf("run after rm: exit %d\n%s", code, errOut)
	}
}
