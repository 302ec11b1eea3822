package envs_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/internal/condatools"
	"github.com/senv-hpc/senv/internal/wheelhouse"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/solver"
	"github.com/senv-hpc/senv/templates"
)

// condaConfig is testConfig with every conda-family binary pointing at
// tool's.
func condaConfig(t *testing.T, tool condatools.Tool) *config.Config {
	cfg := testConfig(t)
	cfg.Conda, cfg.Mamba, cfg.Micromamba = tool.Bin, tool.Bin, tool.Bin
	return cfg
}

// condaHome gives the test a HOME whose .condarc names a bogus default
// channel and a package cache standing for the user's on the shared
// filesystem: neither may be used. It returns that package cache's path.
func condaHome(t *testing.T) string {
	home := t.TempDir()
	shared := filepath.Join(home, "shared-pkgs")
	rc := "channels:\n  - file:///nonexistent/bogus-channel\npkgs_dirs:\n  - " + shared + "\n"
	for _, f := range []string{".condarc", ".mambarc"} {
		if err := os.WriteFile(filepath.Join(home, f), []byte(rc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("HOME", home)
	t.Setenv("CONDA_PKGS_DIRS", "")
	t.Setenv("MAMBA_ROOT_PREFIX", filepath.Join(home, "mamba-root"))
	return shared
}

// checkCondaEnv runs what a job would in the env at prefix: the text and
// binary files whose prefix placeholders the tool replaced, the
// activate.d script's variable, the noarch python entry point.
func checkCondaEnv(t *testing.T, prefix string, vars []templates.Var) {
	t.Helper()
	if got := output(t, filepath.Join(prefix, "bin", "hello-prefix")); !strings.HasPrefix(got, "installed prefix: "+prefix+"\nhello from the data file\n1.1") {
		t.Errorf("hello-prefix (text placeholder) printed %q", got)
	}
	if got := output(t, filepath.Join(prefix, "bin", "hello-bin")); got != "binary reads "+prefix+"/share/hello/data.txt\nhello from the data file" {
		t.Errorf("hello-bin (binary placeholder) printed %q", got)
	}
	act := templates.Activation{Kind: "conda", Prefix: prefix, Variables: vars}
	argv, err := act.Command("sh", "-c", `echo "$HELLO_PREFIX_ACTIVATED|$CONDA_PREFIX|$(command -v demo-noarch)|$SENV_TEST_VAR"; demo-noarch`)
	if err != nil {
		t.Fatal(err)
	}
	want := prefix + "|" + prefix + "|" + prefix + "/bin/demo-noarch|" + "from yml\n" +
		"demo-noarch 0.1 python 3.11.2 prefix " + prefix
	if vars == nil {
		want = strings.Replace(want, "from yml", "", 1)
	}
	if got := output(t, argv...); got != want {
		t.Errorf("activated env printed\n%q\nwant\n%q", got, want)
	}
}

// TestCondaBackendConformance is the conformance suite for every real
// conda-family manager against the local channel: solve, lock as
// @EXPLICIT, build from the explicit list, pack, unstage, stage from the
// cache, verify, and run the env each time, also staged at another
// (shorter) prefix, relocated: its text and binary prefix files rewritten. A user's .condarc with another
// channel and a shared package cache changes nothing, and the build's
// package cache is the stage's.
func TestCondaBackendConformance(t *testing.T) {
	channel := condatools.Channel(t)
	for _, tool := range condatools.All(t) {
		t.Run(tool.Name, func(t *testing.T) {
			shared := condaHome(t)
			cfg := condaConfig(t, tool)
			env := &jobspec.Env{Manager: tool.Manager, Solver: tool.Solver, Channels: []string{channel},
				Conda: []string{"hello-prefix", "demo-noarch", "python"}}
			store, job, prefix, outcome := build(t, cfg, env)
			if outcome != envs.Built {
				t.Fatalf("first ensure: %s, want built", outcome)
			}
			if !strings.HasPrefix(job.Lock.Tool, tool.Manager+" ") {
				t.Errorf("lock tool %q, want %s and its version", job.Lock.Tool, tool.Manager)
			}
			for _, want := range []string{"/linux-64/hello-prefix-1.0-h0_0.tar.bz2#", "/linux-64/libdemo-1.1-h0_0.conda#", "/noarch/demo-noarch-0.1-py_0.tar.bz2#"} {
				if !strings.Contains(job.Lock.Explicit, want) {
					t.Errorf("explicit list has no %s:\n%s", want, job.Lock.Explicit)
				}
			}
			if n := job.Lock.PackageCount(); n < 4 {
				t.Errorf("lock counts %d packages, want at least 4:\n%s", n, job.Lock.Explicit)
			}
			checkCondaEnv(t, prefix, nil)
			// micromamba and mamba 2 add the .condarc's pkgs_dirs after
			// CONDA_PKGS_DIRS and create an empty urls.txt in each; no
			// package may land there.
			if ents, _ := os.ReadDir(shared); len(ents) > 1 || len(ents) == 1 && ents[0].Name() != "urls.txt" {
				t.Errorf("the .condarc's pkgs_dirs %s was written: %v", shared, ents)
			}
			if ents, _ := os.ReadDir(filepath.Join(cfg.StageDir, ".senv", "conda-pkgs")); len(ents) == 0 {
				t.Errorf("the stage's package cache %s/.senv/conda-pkgs is empty", cfg.StageDir)
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
			checkCondaEnv(t, prefix, nil)
			checkCondaEnv(t, stageElsewhere(t, store, job.ID), nil)
		})
	}
}

// TestCondaPipConformance builds a mixed env with every real manager: the
// conda part from the channel, a pip part from a local wheelhouse, both
// locked (the pip part with hashes) and installed without a resolver.
func TestCondaPipConformance(t *testing.T) {
	channel := condatools.Channel(t)
	wh, err := wheelhouse.BuildAll(t.TempDir(), wheelhouse.Standard)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range condatools.All(t) {
		t.Run(tool.Name, func(t *testing.T) {
			condaHome(t)
			cfg := condaConfig(t, tool)
			env := &jobspec.Env{Manager: tool.Manager, Solver: tool.Solver, Channels: []string{channel},
				Conda: []string{"hello-prefix", "python"}, Pip: []string{"alpha"}, FindLinks: []string{wh}, NoIndex: true}
			_, job, prefix, outcome := build(t, cfg, env)
			if outcome != envs.Built {
				t.Fatalf("ensure: %s, want built", outcome)
			}
			if got := job.Lock.Packages; len(got) != 2 || got[0].Name != "alpha" || got[1].Name != "beta" || !got[0].Hashed() {
				t.Fatalf("lock packages = %+v, want alpha and beta with hashes", got)
			}
			if job.Lock.Python != "" || !strings.Contains(job.Lock.Tool, " + ") {
				t.Errorf("lock python %q tool %q: want no scratch path, and both tools", job.Lock.Python, job.Lock.Tool)
			}
			if got := output(t, filepath.Join(prefix, "bin", "python"), "-c", "import alpha, beta, sys; print(beta.__version__, sys.prefix)"); got != "1.2 "+prefix {
				t.Errorf("import printed %q", got)
			}
			if got := output(t, filepath.Join(prefix, "bin", "alpha-hello")); got != "hello from alpha 1.0" {
				t.Errorf("console script printed %q", got)
			}
			var b bytes.Buffer
			b.WriteString(output(t, filepath.Join(prefix, "bin", "hello-prefix")))
			if !strings.Contains(b.String(), prefix) {
				t.Errorf("conda part: hello-prefix printed %q", b.String())
			}
		})
	}
}

// TestCondaEnvironmentYMLPip builds an environment.yml whose pip section is
// a requirements file in all but name (sources, an editable source tree, a
// wheel by path, relative to the environment.yml, a git requirement) with a
// real manager:
// every requirement is in the env, the editable one runs from its tree,
// and the variables reach the activation.
func TestCondaEnvironmentYMLPip(t *testing.T) {
	channel := condatools.Channel(t)
	tool := condatools.First(t)
	dir := t.TempDir()
	_, err := wheelhouse.BuildAll(filepath.Join(dir, "wheels"), wheelhouse.Standard)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := wheelhouse.SourceTree(filepath.Join(dir, "src"), wheelhouse.Wheel{Name: "mytool", Version: "0.3"})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := wheelhouse.SourceTree(t.TempDir(), wheelhouse.Wheel{Name: "zeta", Version: "0.7"})
	if err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{{"init", "-q"}, {"add", "-A"}, {"-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "zeta 0.7"}} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, argv...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", argv, err, out)
		}
	}
	yml := `name: analysis
channels:
  - ` + channel + `
  - nodefaults
dependencies:
  - python=3.11
  - hello-prefix
  - demo-noarch
  - pip:
      - --no-index
      - --find-links ./wheels
      - alpha
      - -e ./src/mytool
      - ./wheels/gamma-2.0-py3-none-any.whl
      - zeta @ git+file://localhost` + repo + `
variables:
  SENV_TEST_VAR: from yml
`
	if err := os.WriteFile(filepath.Join(dir, "environment.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	condaHome(t)
	cfg := condaConfig(t, tool)
	spec, err := solver.Canonicalize(&jobspec.Env{File: "environment.yml"}, dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, job, prefix, outcome := buildSpec(t, cfg, spec)
	if outcome != envs.Built {
		t.Fatalf("ensure: %s", outcome)
	}
	var names []string
	for _, p := range job.Lock.Packages {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, " "); !strings.Contains(got, "alpha") || !strings.Contains(got, "beta") || !strings.Contains(got, "gamma") || !strings.Contains(got, "mytool") || !strings.Contains(got, "zeta") {
		t.Errorf("locked Python packages %q, want alpha, beta, gamma, mytool, zeta", got)
	}
	got := output(t, filepath.Join(prefix, "bin", "python"), "-c", fmt.Sprintf("import alpha, gamma, zeta, mytool; print(gamma.__file__.startswith(%q), mytool.__file__)", prefix))
	if want := "True " + filepath.Join(tree, "mytool", "__init__.py"); got != want {
		t.Errorf("imports printed %q, want %q (gamma in the env, mytool from its tree)", got, want)
	}
	vars := []templates.Var{}
	for _, kv := range spec.Variables {
		name, value, _ := strings.Cut(kv, "=")
		vars = append(vars, templates.Var{Name: name, Value: value})
	}
	checkCondaEnv(t, prefix, vars)
}
