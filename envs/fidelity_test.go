package envs_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/internal/wheelhouse"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/solver"
	"github.com/senv-hpc/senv/templates"
)

// fidelityFixture is a project with every kind of requirement pip's file
// format has, all local: registry wheels through find-links (one held back
// by a constraint), a direct-URL wheel, a git repository, a source tree and
// an editable source tree.
type fidelityFixture struct {
	dir, wheels string
	want        []string // name==version of everything the env must hold
}

func newFidelityFixture(t *testing.T) fidelityFixture {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed for VCS requirements")
	}
	dir := t.TempDir()
	wh, err := wheelhouse.BuildAll(filepath.Join(dir, "wheels"), wheelhouse.Standard)
	if err != nil {
		t.Fatal(err)
	}
	loose, err := wheelhouse.Build(t.TempDir(), wheelhouse.Wheel{Name: "delta", Version: "3.0"})
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src")
	for _, w := range []wheelhouse.Wheel{{Name: "epsilon", Version: "0.5", Deps: []string{"gamma"}}, {Name: "live", Version: "0.1"}} {
		if _, err := wheelhouse.SourceTree(src, w); err != nil {
			t.Fatal(err)
		}
	}
	repo, err := wheelhouse.SourceTree(t.TempDir(), wheelhouse.Wheel{Name: "zeta", Version: "0.7", Deps: []string{"beta"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{{"init", "-q"}, {"add", "-A"}, {"-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "zeta 0.7"}} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, argv...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", argv, err, out)
		}
	}
	reqs := "# a hand-written file of every shape\n" +
		// uv, unlike pip, refuses a backslash continuation inside a requirement
		"alpha>=1.0\t# via find-links\n" +
		"-c constraints.txt\n" +
		"delta @ file://" + loose + "\n" +
		// file://localhost: pip 23's vendored packaging refuses git+file:/// (no host)
		"zeta @ git+file://localhost" + repo + "\n" +
		"./src/epsilon\n" +
		"-e ./src/live\n"
	for name, content := range map[string]string{"requirements.txt": reqs, "constraints.txt": "beta<1.2\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return fidelityFixture{dir: dir, wheels: wh,
		want: []string{"alpha==1.0", "beta==1.0", "delta==3.0", "epsilon==0.5", "gamma==2.0", "live==0.1", "zeta==0.7"}}
}

// installed lists name==version of every distribution in the env at prefix
// but the ones venv seeds it with.
func installed(t *testing.T, prefix string) []string {
	t.Helper()
	out := output(t, filepath.Join(prefix, "bin", "python"), "-c",
		"import importlib.metadata as m, json; print(json.dumps(sorted(d.metadata['Name'].lower() + '==' + d.version for d in m.distributions())))")
	var got []string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var kept []string
	for _, d := range got {
		if !strings.HasPrefix(d, "pip==") && !strings.HasPrefix(d, "setuptools==") {
			kept = append(kept, d)
		}
	}
	return kept
}

// lockedNames lists the names in a lock with the version where the lock
// records one (source trees have none).
func lockedNames(l *solver.Lock) []string {
	var names []string
	for _, p := range l.Packages {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

func names(pins []string) []string {
	var out []string
	for _, p := range pins {
		n, _, _ := strings.Cut(p, "==")
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestFidelityEveryKindOfRequirement: a requirements file with registry,
// constrained, direct-URL, VCS, source-tree and editable requirements builds,
// with pip (venv) and with uv, an env that holds exactly what the file asks
// for: the lock names every package, the env holds every locked package at
// its version, nothing is dropped, and the VCS requirement is pinned to the
// commit.
func TestFidelityEveryKindOfRequirement(t *testing.T) {
	fx := newFidelityFixture(t)
	for _, m := range managers(t) {
		t.Run(m, func(t *testing.T) {
			cfg := testConfig(t)
			env := &jobspec.Env{Manager: m, Requirements: []string{"requirements.txt"}, FindLinks: []string{fx.wheels}, NoIndex: true}
			_, job, prefix, _ := buildIn(t, cfg, env, fx.dir)
			if got := lockedNames(job.Lock); !reflect.DeepEqual(got, names(fx.want)) {
				t.Errorf("locked %q, want %q", got, names(fx.want))
			}
			if got := installed(t, prefix); !reflect.DeepEqual(got, fx.want) {
				t.Errorf("env holds %q, want %q", got, fx.want)
			}
			kinds := map[string]string{}
			for _, p := range job.Lock.Packages {
				kinds[p.Name] = p.Kind()
				if p.Kind() == "vcs" && len(p.VCS.CommitID) != 40 {
					t.Errorf("zeta is not pinned to a commit: %+v", p.VCS)
				}
			}
			want := map[string]string{"alpha": "registry", "beta": "registry", "gamma": "registry", "delta": "archive", "zeta": "vcs", "epsilon": "directory", "live": "directory"}
			if !reflect.DeepEqual(kinds, want) {
				t.Errorf("kinds %v, want %v", kinds, want)
			}
			// the editable tree runs from its source: an edit shows without a rebuild
			os.WriteFile(filepath.Join(fx.dir, "src", "live", "live", "__init__.py"), []byte("__version__ = 'edited'\n"), 0o644)
			if got := output(t, filepath.Join(prefix, "bin", "python"), "-c", "import live; print(live.__version__)"); got != "edited" {
				t.Errorf("editable package printed %q", got)
			}
			os.WriteFile(filepath.Join(fx.dir, "src", "live", "live", "__init__.py"), []byte("__version__ = '0.1'\n"), 0o644)
		})
	}
}

// TestFidelityOracle: what senv locks is what the tools themselves resolve
// from the same file and sources: `uv pip compile` and `pip install
// --dry-run --report`, run directly.
func TestFidelityOracle(t *testing.T) {
	fx := newFidelityFixture(t)
	python := systemPython()
	uvOut, err := runIn(fx.dir, "uv", "pip", "compile", "--quiet", "--no-header", "--no-annotate", "--no-index", "--find-links", fx.wheels,
		"--python", python, "requirements.txt")
	if err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "report.json")
	if _, err := runIn(fx.dir, python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", report,
		"--no-index", "--find-links", fx.wheels, "-r", "requirements.txt"); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Install []struct {
			Metadata struct{ Name, Version string } `json:"metadata"`
		} `json:"install"`
	}
	data, _ := os.ReadFile(report)
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	var pipNames, uvNames []string
	for _, in := range rep.Install {
		pipNames = append(pipNames, strings.ToLower(in.Metadata.Name))
	}
	sort.Strings(pipNames)
	for _, line := range strings.Split(uvOut, "\n") {
		line = strings.TrimSpace(line)
		line = strings.TrimPrefix(line, "-e ")
		if line == "" || strings.HasPrefix(line, "-") {
			continue
		}
		name := strings.FieldsFunc(line, func(r rune) bool { return r == '=' || r == ' ' || r == '@' })[0]
		if strings.HasPrefix(name, "./") { // uv writes a source tree by its path
			name = filepath.Base(name)
		}
		uvNames = append(uvNames, strings.ToLower(name))
	}
	sort.Strings(uvNames)
	if !reflect.DeepEqual(pipNames, names(fx.want)) || !reflect.DeepEqual(uvNames, names(fx.want)) {
		t.Fatalf("the tools disagree with the fixture: pip %q, uv %q, want %q", pipNames, uvNames, names(fx.want))
	}
	for _, m := range managers(t) {
		cfg := testConfig(t)
		spec, err := solver.Canonicalize(&jobspec.Env{Manager: m, Requirements: []string{"requirements.txt"}, FindLinks: []string{fx.wheels}, NoIndex: true}, fx.dir, cfg)
		if err != nil {
			t.Fatal(err)
		}
		lock, err := solver.Solve(t.Context(), spec, cfg, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if got := lockedNames(lock); !reflect.DeepEqual(got, pipNames) {
			t.Errorf("%s: senv locked %q, the tools resolve %q", m, got, pipNames)
		}
	}
}

// TestFidelityMissingRequirementFails: a lock that lacks something asked
// for is an error naming it, never an env without it.
func TestFidelityMissingRequirementFails(t *testing.T) {
	fx := newFidelityFixture(t)
	cfg := testConfig(t)
	spec, err := solver.Canonicalize(&jobspec.Env{Manager: "uv", Requirements: []string{"requirements.txt"}, FindLinks: []string{fx.wheels}, NoIndex: true}, fx.dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := solver.Solve(t.Context(), spec, cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range lock.Packages {
		if p.Name == "zeta" {
			lock.Packages = append(lock.Packages[:i], lock.Packages[i+1:]...)
			break
		}
	}
	if err := solver.CheckLocked(lock, spec.Requested); err == nil || !strings.Contains(err.Error(), "requirements.txt:5") {
		t.Errorf("a lock without zeta: %v", err)
	}
}

func runIn(dir string, argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), &runError{argv, ee, string(ee.Stderr)}
	}
	return string(out), err
}

type runError struct {
	argv   []string
	err    error
	stderr string
}

func (e *runError) Error() string {
	return strings.Join(e.argv, " ") + ": " + e.err.Error() + "\n" + e.stderr
}

// writeProject writes a pyproject.toml (and extra files) into a fresh dir.
func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestFidelityPyproject: a pyproject.toml's dependencies, extras and
// dependency groups, static or dynamic (computed by the project's build
// backend), are in the env; the project itself is not.
func TestFidelityPyproject(t *testing.T) {
	wh, err := wheelhouse.BuildAll(t.TempDir(), append(wheelhouse.Standard, wheelhouse.Wheel{Name: "delta", Version: "3.0"}))
	if err != nil {
		t.Fatal(err)
	}
	static := "[project]\nname = \"proj\"\nversion = \"0.1\"\nrequires-python = \">=3.8\"\ndependencies = [\"alpha\"]\n\n" +
		"[project.optional-dependencies]\ngpu = [\"delta\"]\n\n[dependency-groups]\ntest = [\"gamma\"]\n"
	dynDir, err := wheelhouse.SourceTree(t.TempDir(), wheelhouse.Wheel{Name: "dyn", Version: "0.3"})
	if err != nil {
		t.Fatal(err)
	}
	pp, _ := os.ReadFile(filepath.Join(dynDir, "pyproject.toml"))
	os.WriteFile(filepath.Join(dynDir, "pyproject.toml"), []byte(strings.Replace(string(pp), "dependencies = []", "dynamic = [\"dependencies\"]", 1)), 0o644)
	os.WriteFile(filepath.Join(dynDir, "deps.txt"), []byte("alpha\ngamma\n"), 0o644)
	cases := []struct {
		name, manager, dir string
		extras, groups     []string
		want               []string
	}{
		{"static uv", "uv", writeProject(t, map[string]string{"pyproject.toml": static}), []string{"gpu"}, []string{"test"},
			[]string{"alpha==1.0", "beta==1.2", "delta==3.0", "gamma==2.0"}},
		{"static pip", "venv", writeProject(t, map[string]string{"pyproject.toml": static}), []string{"gpu"}, nil,
			[]string{"alpha==1.0", "beta==1.2", "delta==3.0"}},
		{"dynamic uv", "uv", dynDir, nil, nil, []string{"alpha==1.0", "beta==1.2", "gamma==2.0"}},
		{"dynamic pip", "venv", dynDir, nil, nil, []string{"alpha==1.0", "beta==1.2", "gamma==2.0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			env := &jobspec.Env{Manager: tc.manager, File: "pyproject.toml", Extras: tc.extras, Groups: tc.groups, FindLinks: []string{wh}, NoIndex: true}
			_, _, prefix, _ := buildIn(t, cfg, env, tc.dir)
			if got := installed(t, prefix); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("env holds %q, want %q", got, tc.want)
			}
		})
	}
	// pip has no dependency groups: an error, not an env without them
	cfg := testConfig(t)
	_, err = solver.Canonicalize(&jobspec.Env{Manager: "venv", File: "pyproject.toml", Groups: []string{"test"}, FindLinks: []string{wh}, NoIndex: true},
		writeProject(t, map[string]string{"pyproject.toml": static}), cfg)
	var je *jobspec.Error
	if !errors.As(err, &je) || !strings.Contains(err.Error(), "dependency groups need uv") {
		t.Errorf("groups with pip: %v, want a spec error (exit 2)", err)
	}
}

// TestFidelityUVProject: a uv project (pyproject.toml with a local
// [tool.uv.sources] package, and its uv.lock) is installed from uv.lock as
// it is: when the index later has a newer version, the env still holds
// uv.lock's; a uv.lock out of date with pyproject.toml fails with `uv lock`.
func TestFidelityUVProject(t *testing.T) {
	wheels := filepath.Join(t.TempDir(), "wheels")
	if _, err := wheelhouse.BuildAll(wheels, []wheelhouse.Wheel{{Name: "alpha", Version: "1.0", Deps: []string{"beta>=1"}}, {Name: "beta", Version: "1.0"}}); err != nil {
		t.Fatal(err)
	}
	dir := writeProject(t, map[string]string{"pyproject.toml": "[project]\nname = \"proj\"\nversion = \"0.1\"\nrequires-python = \">=3.8\"\n" +
		"dependencies = [\"alpha\", \"mylib\"]\n\n[tool.uv.sources]\nmylib = { path = \"libs/mylib\" }\n\n" +
		"[tool.uv]\nfind-links = [\"" + wheels + "\"]\nno-index = true\n"})
	if _, err := wheelhouse.SourceTree(filepath.Join(dir, "libs"), wheelhouse.Wheel{Name: "mylib", Version: "0.9"}); err != nil {
		t.Fatal(err)
	}
	if out, err := runIn(dir, "uv", "lock", "--quiet", "--python", systemPython()); err != nil {
		t.Fatalf("uv lock: %v %s", err, out)
	}
	// a newer beta appears: a solve would take it, uv.lock says 1.0
	if _, err := wheelhouse.Build(wheels, wheelhouse.Wheel{Name: "beta", Version: "1.2"}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	_, job, prefix, _ := buildIn(t, cfg, &jobspec.Env{Manager: "uv", File: "pyproject.toml"}, dir)
	want := []string{"alpha==1.0", "beta==1.0", "mylib==0.9"}
	if got := installed(t, prefix); !reflect.DeepEqual(got, want) {
		t.Errorf("env holds %q, want uv.lock's %q", got, want)
	}
	if job.Lock.Trees[filepath.Join(dir, "libs", "mylib")] == "" {
		t.Errorf("the local source package's tree is not in the lock: %v", job.Lock.Trees)
	}
	// pyproject.toml changes, uv.lock does not
	pp, _ := os.ReadFile(filepath.Join(dir, "pyproject.toml"))
	os.WriteFile(filepath.Join(dir, "pyproject.toml"), []byte(strings.Replace(string(pp), `"alpha", "mylib"`, `"alpha", "mylib", "gamma"`, 1)), 0o644)
	spec, err := solver.Canonicalize(&jobspec.Env{Manager: "uv", File: "pyproject.toml"}, dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := solver.Solve(t.Context(), spec, cfg, t.TempDir()); err == nil || !strings.Contains(err.Error(), "uv lock") {
		t.Errorf("stale uv.lock: %v", err)
	}
}

// TestFidelityPylock: pylock.toml files written by uv and by `pip lock` are
// installed as they are (#ENV file), and the lock senv writes is itself a
// pylock.toml that `uv pip install -r` installs to the same set, and pip's
// reader (`pip install -r`, pip 26) too, for its hashed packages.
func TestFidelityPylock(t *testing.T) {
	fx := newFidelityFixture(t)
	if out, err := runIn(fx.dir, "uv", "pip", "compile", "--quiet", "--format", "pylock.toml", "-o", "pylock.toml", "--no-index",
		"--find-links", fx.wheels, "--python", systemPython(), "requirements.txt"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	pip := pipWithLock(t)
	if out, err := runIn(fx.dir, pip, "lock", "--quiet", "--no-index", "--find-links", fx.wheels, "-r", "requirements.txt", "-o", "pylock.pip.toml"); err != nil {
		t.Fatalf("pip lock: %v %s", err, out)
	}
	for _, file := range []string{"pylock.toml", "pylock.pip.toml"} {
		cfg := testConfig(t)
		_, _, prefix, _ := buildIn(t, cfg, &jobspec.Env{Manager: "uv", File: file}, fx.dir)
		if got := installed(t, prefix); !reflect.DeepEqual(got, fx.want) {
			t.Errorf("env from %s holds %q, want %q", file, got, fx.want)
		}
	}
	for _, m := range managers(t) {
		t.Run(m, func(t *testing.T) {
			cfg := testConfig(t)
			_, job, prefix, _ := buildIn(t, cfg, &jobspec.Env{Manager: m, File: "pylock.toml"}, fx.dir)
			if got := installed(t, prefix); !reflect.DeepEqual(got, fx.want) {
				t.Errorf("env from uv's pylock.toml holds %q, want %q", got, fx.want)
			}
			if m != "uv" {
				return
			}
			data, err := job.Lock.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			lockFile := filepath.Join(t.TempDir(), "pylock.senv.toml")
			os.WriteFile(lockFile, data, 0o644)
			venv := filepath.Join(t.TempDir(), "venv")
			if out, err := runIn(fx.dir, "uv", "venv", "--quiet", "--python", systemPython(), venv); err != nil {
				t.Fatalf("%v %s", err, out)
			}
			if out, err := runIn(fx.dir, "uv", "pip", "install", "--quiet", "--python", filepath.Join(venv, "bin", "python"), "-r", lockFile); err != nil {
				t.Fatalf("uv cannot install senv's lock: %v %s", err, out)
			}
			if got := installed(t, venv); !reflect.DeepEqual(got, fx.want) {
				t.Errorf("uv installed senv's lock as %q, want %q", got, fx.want)
			}
			// and pip's reader (pip 26: pip install -r pylock.toml), which runs
			// in hash-checking mode and so refuses source trees and VCS
			// checkouts: the lock's hashed packages
			hashedLock := *job.Lock
			hashedLock.Packages = nil
			var hashedWant []string
			for _, p := range job.Lock.Packages {
				if p.Hashed() {
					hashedLock.Packages = append(hashedLock.Packages, p)
					hashedWant = append(hashedWant, p.Name+"=="+p.Version)
				}
			}
			data, err = hashedLock.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(lockFile, data, 0o644)
			pipVenv := filepath.Join(t.TempDir(), "venv")
			if out, err := runIn(fx.dir, systemPython(), "-m", "venv", "--without-pip", pipVenv); err != nil {
				t.Fatalf("%v %s", err, out)
			}
			if out, err := runIn(fx.dir, pip, "--python", filepath.Join(pipVenv, "bin", "python"), "install", "--quiet", "--no-index",
				"--find-links", fx.wheels, "-r", lockFile); err != nil {
				t.Fatalf("pip cannot install senv's lock: %v %s", err, out)
			}
			if got := installed(t, pipVenv); !reflect.DeepEqual(got, hashedWant) || len(hashedWant) < 4 {
				t.Errorf("pip installed senv's lock as %q, want %q", got, hashedWant)
			}
		})
	}
}

// pipWithLock finds a pip that has `pip lock` (25.1 and later): on PATH, or
// the one .ci/run installs (SENV_TEST_PIP_LOCK, default
// /opt/senv-piplock/bin/pip). Debian's pip is older.
func pipWithLock(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("SENV_TEST_PIP_LOCK"), "/opt/senv-piplock/bin/pip", "pip"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if err := exec.Command(c, "lock", "--help").Run(); err == nil {
			return c
		}
	}
	t.Fatal("no pip with `pip lock` (pip >= 25.1): python3 -m venv /opt/senv-piplock && /opt/senv-piplock/bin/pip install 'pip>=25.1'")
	return ""
}

// TestSystemSitePackages (issue 12 item 1): an Alliance-style site module
// puts a package on the python's path (PYTHONPATH, as scipy-stack does);
// with #ENV system-site-packages the solve counts it as provided (the
// wheelhouse does not even have it), the lock does not install it again,
// and the built env imports it from the module beside what the lock
// installed. With pip and with uv.
func TestSystemSitePackages(t *testing.T) {
	const lmodInit = "/usr/share/lmod/lmod/init/sh"
	if _, err := os.Stat(lmodInit); err != nil {
		t.Fatalf("Lmod is needed (%s)", lmodInit)
	}
	site := t.TempDir()
	stack := filepath.Join(site, "stack")
	sitepkg, err := wheelhouse.Build(t.TempDir(), wheelhouse.Wheel{Name: "sitepkg", Version: "1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runIn(site, systemPython(), "-m", "pip", "install", "--quiet", "--no-deps", "--target", stack, sitepkg); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	mods := filepath.Join(site, "modules")
	os.MkdirAll(filepath.Join(mods, "scipy-stack"), 0o755)
	os.WriteFile(filepath.Join(mods, "scipy-stack", "2024a.lua"), []byte(`prepend_path("PYTHONPATH", "`+stack+`")`+"\n"), 0o644)
	t.Setenv("MODULEPATH", mods)
	t.Setenv("HOME", t.TempDir())
	wh, err := wheelhouse.BuildAll(t.TempDir(), wheelhouse.Standard)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range managers(t) {
		t.Run(m, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ModuleInit = []string{lmodInit}
			env := &jobspec.Env{Manager: m, Modules: []string{"scipy-stack/2024a"}, SystemSite: true, Pip: []string{"alpha", "sitepkg>=1"},
				FindLinks: []string{wh}, NoIndex: true}
			_, job, prefix, _ := build(t, cfg, env)
			if got := lockedNames(job.Lock); !reflect.DeepEqual(got, []string{"alpha", "beta"}) {
				t.Errorf("locked %q, want alpha and beta only (sitepkg is provided)", got)
			}
			if !strings.Contains(strings.Join(job.Lock.Provided, " "), "sitepkg==1.0") {
				t.Errorf("provided = %q", job.Lock.Provided)
			}
			argv, err := templates.Activation{ModuleInit: cfg.ModuleInit, Modules: env.Modules}.Command(filepath.Join(prefix, "bin", "python"), "-c",
				"import alpha, sitepkg; print(sitepkg.__file__)")
			if err != nil {
				t.Fatal(err)
			}
			if got := output(t, argv...); !strings.HasPrefix(got, stack) {
				t.Errorf("sitepkg imported from %q, want the module's %s", got, stack)
			}
		})
	}
}
