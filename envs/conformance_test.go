package envs_test

import (
	"context"
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
// imports, reuse the staged env, restage from the cache and verify it.
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
			check := func() {
				t.Helper()
				if got := output(t, filepath.Join(prefix, "bin", "alpha-hello")); got != "hello from alpha 1.0" {
					t.Errorf("console script printed %q", got)
				}
				if got := output(t, filepath.Join(prefix, "bin", "python"), "-c", "import alpha, beta; print(beta.__version__)"); got != "1.2" {
					t.Errorf("import printed %q", got)
				}
			}
			check()

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
			check()
			if left, _ := os.ReadDir(filepath.Join(store.Cache.Root, "tmp")); len(left) != 0 {
				t.Errorf("cache tmp not empty: %v", left)
			}
		})
	}
}
