package envs_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/internal/wheelhouse"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/solver"
)

// testConfig is a config whose cache and stage live in fresh temp dirs and
// whose base interpreter is the system one (world-readable, with pip).
func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load(func(string) string { return "" }, map[string]string{
		"cache_dir": t.TempDir(), "stage_dir": filepath.Join(t.TempDir(), "stage"), "python": systemPython(),
		"lock_timeout": "2m",
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func systemPython() string {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}

// managers are the Python backends the pip conformance test runs against:
// venv always, uv where installed (required in CI). The conda family has
// its own suite on its own channel (TestCondaBackendConformance).
func managers(t *testing.T) []string {
	ms := []string{"venv"}
	if _, err := exec.LookPath("uv"); err == nil {
		ms = append(ms, "uv")
	} else if os.Getenv("CI") != "" {
		t.Fatalf("uv is not installed: CI must test the uv backend (pip install uv)")
	}
	return ms
}

// build solves and ensures spec env under cfg.
func build(t *testing.T, cfg *config.Config, env *jobspec.Env) (*envs.Store, envs.Job, string, envs.Outcome) {
	t.Helper()
	return buildIn(t, cfg, env, t.TempDir())
}

// buildIn is build with the spec's relative paths relative to dir.
func buildIn(t *testing.T, cfg *config.Config, env *jobspec.Env, dir string) (*envs.Store, envs.Job, string, envs.Outcome) {
	t.Helper()
	spec, err := solver.Canonicalize(env, dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return buildSpec(t, cfg, spec)
}

// buildSpec solves and ensures a canonical spec under cfg.
func buildSpec(t *testing.T, cfg *config.Config, spec *solver.Spec) (*envs.Store, envs.Job, string, envs.Outcome) {
	t.Helper()
	return buildSpecWith(t, cfg, spec, nil)
}

// buildSpecWith is buildSpec with the store's Installed hook set.
func buildSpecWith(t *testing.T, cfg *config.Config, spec *solver.Spec, installed func(*envs.Store, string)) (*envs.Store, envs.Job, string, envs.Outcome) {
	t.Helper()
	ctx := context.Background()
	lock, err := solver.Solve(ctx, spec, cfg, t.TempDir())
	if err != nil {
		t.Fatalf("solve: %v", err)
	}
	cache, err := envs.OpenCache(cfg.CacheDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	stage, err := envs.OpenStage(cfg.StageDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	store := &envs.Store{Cache: cache, Stage: stage, Timeout: time.Minute, Logf: t.Logf}
	if installed != nil {
		store.Installed = func(id string) { installed(store, id) }
	}
	b, err := envs.BackendFor(spec.Manager, cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := lock.EnvID()
	job := envs.Job{ID: id, Lock: lock, Backend: b, Runner: solver.RunnerFor(spec, cfg),
		Meta: envs.Meta{ID: id, Manager: spec.Manager, Kind: b.Kind(), Prefix: stage.Prefix(id), Spec: spec, Tool: lock.Tool}}
	prefix, outcome, err := store.Ensure(ctx, job)
	if err != nil {
		t.Fatalf("ensure: %v", err)
	}
	return store, job, prefix, outcome
}

// stageElsewhere stages entry id of store's cache into a new stage dir
// whose path is shorter than the one it was built in (as a user's
// /tmp/senv-UID is beside an admin's padded one), verifies it, and returns
// the new prefix.
func stageElsewhere(t *testing.T, store *envs.Store, id string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "r")
	if err != nil {
		t.Fatal(err)
	}
	stage, err := envs.OpenStage(filepath.Join(dir, "s"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stage.Reset(id); os.RemoveAll(dir) })
	if len(stage.Prefix(id)) >= len(store.Stage.Prefix(id)) {
		t.Fatalf("%s is not shorter than %s", stage.Prefix(id), store.Stage.Prefix(id))
	}
	m, err := stage.FromCache(store.Cache, id, nil, nil)
	if err != nil {
		t.Fatalf("stage at another prefix: %v", err)
	}
	if err := envs.Verify(stage.Prefix(id), m); err != nil {
		t.Fatalf("env staged at another prefix differs from manifest: %v", err)
	}
	var embeds []string
	for _, e := range m.Files {
		if e.Embeds != "" {
			embeds = append(embeds, e.Path+" ("+e.Embeds+")")
		}
	}
	t.Logf("relocated %s to %s: %s", m.Prefix, stage.Prefix(id), strings.Join(embeds, ", "))
	return stage.Prefix(id)
}

func output(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestBackendConformance is the suite every backend must pass, with the
// real tools: solve from a local wheelhouse, build, run a console script and
// imports, reuse the staged env, restage from the cache and verify it, and
// stage it at another prefix (relocated), where it runs the same.
func TestBackendConformance(t *testing.T) {
	wh, err := wheelhouse.BuildAll(t.TempDir(), wheelhouse.Standard)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range managers(t) {
		t.Run(m, func(t *testing.T) {
			cfg := testConfig(t)
			env := &jobspec.Env{Manager: m, Pip: []string{"alpha"}, FindLinks: []string{wh}, NoIndex: true}
			store, job, prefix, outcome := build(t, cfg, env)
			if outcome != envs.Built {
				t.Fatalf("first ensure: %s, want built", outcome)
			}
			if got := job.Lock.Packages; len(got) != 2 || got[0].Name != "alpha" || got[1].Name != "beta" || got[1].Version != "1.2" {
				t.Fatalf("lock packages = %+v, want alpha 1.0 and beta 1.2 (newest matching)", got)
			}
			check := func(prefix string) {
				t.Helper()
				if got := output(t, filepath.Join(prefix, "bin", "alpha-hello")); got != "hello from alpha 1.0" {
					t.Errorf("console script printed %q", got)
				}
				if got := output(t, filepath.Join(prefix, "bin", "python"), "-c", "import alpha, beta, sys; print(beta.__version__, sys.prefix)"); got != "1.2 "+prefix {
					t.Errorf("import printed %q, want 1.2 %s", got, prefix)
				}
			}
			check(prefix)

			if _, outcome, err := store.Ensure(context.Background(), job); err != nil || outcome != envs.Staged {
				t.Fatalf("second ensure: %s, %v; want staged", outcome, err)
			}
			if removed, err := store.Stage.RemoveUnused(job.ID, nil); !removed || err != nil {
				t.Fatalf("remove staged env: %v %v", removed, err)
			}
			if _, outcome, err := store.Ensure(context.Background(), job); err != nil || outcome != envs.CacheHit {
				t.Fatalf("ensure after unstage: %s, %v; want cache hit", outcome, err)
			}
			m, err := store.Cache.Manifest(job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := envs.Verify(prefix, m); err != nil {
				t.Fatalf("staged env differs from manifest: %v", err)
			}
			check(prefix)
			moved := stageElsewhere(t, store, job.ID)
			check(moved)
			// what a user sourcing the env's own activate script gets
			if got := output(t, "sh", "-c", ". "+moved+"/bin/activate && echo $VIRTUAL_ENV && command -v alpha-hello"); got != moved+"\n"+moved+"/bin/alpha-hello" {
				t.Errorf("bin/activate of the relocated env printed %q", got)
			}
			if left, _ := os.ReadDir(filepath.Join(store.Cache.Root, "tmp")); len(left) != 0 {
				t.Errorf("cache tmp not empty: %v", left)
			}
		})
	}
}

// TestBytecodeAfterInstalled: with the real pip and uv, the install writes
// no bytecode (even with UV_COMPILE_BYTECODE=1), so Store.Installed (where senv sbatch queues the job) comes
// before the compile; the env the cache holds, staged again, has a current
// .pyc for each module, so a job imports without compiling.
func TestBytecodeAfterInstalled(t *testing.T) {
	wh, err := wheelhouse.BuildAll(t.TempDir(), wheelhouse.Standard)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range managers(t) {
		t.Run(m, func(t *testing.T) {
			t.Setenv("UV_COMPILE_BYTECODE", "1") // a user's setting: the install still compiles nothing
			t.Setenv("SOURCE_DATE_EPOCH", "")
			cfg := testConfig(t)
			env := &jobspec.Env{Manager: m, Pip: []string{"alpha"}, FindLinks: []string{wh}, NoIndex: true}
			spec, err := solver.Canonicalize(env, t.TempDir(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			calls := 0
			pycs := func(prefix string) []string {
				got, _ := filepath.Glob(filepath.Join(prefix, "lib", "*", "site-packages", "[ab]*", "__pycache__", "*.pyc"))
				return got
			}
			store, job, prefix, outcome := buildSpecWith(t, cfg, spec, func(s *envs.Store, id string) {
				calls++
				if got := pycs(s.Stage.Prefix(id)); len(got) != 0 {
					t.Errorf("the install wrote bytecode before Installed: %v", got)
				}
			})
			if outcome != envs.Built || calls != 1 {
				t.Fatalf("ensure: %s, Installed called %d times; want built, once", outcome, calls)
			}
			if removed, err := store.Stage.RemoveUnused(job.ID, nil); !removed || err != nil {
				t.Fatalf("remove staged env: %v %v", removed, err)
			}
			if _, outcome, err := store.Ensure(context.Background(), job); err != nil || outcome != envs.CacheHit {
				t.Fatalf("ensure from the cache: %s, %v", outcome, err)
			}
			py := filepath.Join(prefix, "bin", "python")
			for _, mod := range []string{"alpha", "beta"} {
				src := output(t, py, "-c", "import importlib.util; print(importlib.util.find_spec('"+mod+"').origin)")
				if got := output(t, py, "-c", envs.CurrentPyc, src); got != "current" {
					t.Errorf("%s from the cache: %s", src, got)
				}
			}
			if got := pycs(prefix); len(got) != 2 {
				t.Errorf("the cached env holds %v, want one .pyc per module of alpha and beta", got)
			}
		})
	}
}

// TestBuildIgnoresWorkingDirModules: senv solves and builds in the user's
// working directory (relative paths in a spec are relative to it). One
// holding typing.py, shutil.py, email.py, platform.py and logging.py, each
// exiting 3 when imported, changes nothing: real pip, venv and uv import
// none of them, and the env has its packages. Before solver.PythonModule
// the venv build failed (`python -m venv` ran that logging.py) and the uv
// build ran it too (`python -m pip config list`, in the solve).
func TestBuildIgnoresWorkingDirModules(t *testing.T) {
	wh, err := wheelhouse.BuildAll(t.TempDir(), wheelhouse.Standard)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, m := range []string{"typing", "shutil", "platform", "email", "logging"} {
		body := fmt.Sprintf("open(%q, 'w').close()\nraise SystemExit(3)\n", filepath.Join(dir, "HIT-"+m))
		if err := os.WriteFile(filepath.Join(dir, m+".py"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	for _, m := range managers(t) {
		t.Run(m, func(t *testing.T) {
			cfg := testConfig(t)
			_, _, prefix, outcome := build(t, cfg, &jobspec.Env{Manager: m, Pip: []string{"alpha"}, FindLinks: []string{wh}, NoIndex: true})
			if outcome != envs.Built {
				t.Fatalf("ensure: %s, want built", outcome)
			}
			if got, _ := filepath.Glob(filepath.Join(dir, "HIT-*")); len(got) != 0 {
				t.Errorf("the build imported from the working directory: %v", got)
			}
			py := filepath.Join(prefix, "bin", "python")
			if out, err := exec.Command(py, "-c", "import alpha, beta").CombinedOutput(); err != nil {
				t.Errorf("the env lacks its packages: %v\n%s", err, out)
			}
		})
	}
}
