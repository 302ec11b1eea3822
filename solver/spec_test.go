package solver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
)

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load(func(string) string { return "" }, map[string]string{"default_manager": "venv"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// writeFiles writes name → content under a fresh dir and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSpecKeyStable: specs that ask for the same thing share a key, however
// their #ENV values are ordered or spelled. Requirements files count by
// their contents (the resolver reads them as they are): see
// TestSpecKeyChanges.
func TestSpecKeyStable(t *testing.T) {
	cfg := testConfig(t)
	base := writeFiles(t, map[string]string{"req.txt": "numpy>=1.26\nscipy\n"})
	cases := []struct {
		name string
		env  jobspec.Env
		dir  string
	}{
		{"reordered pip", jobspec.Env{Pip: []string{"torch", "numpy"}, Requirements: []string{"req.txt"}}, base},
		{"pip spelled otherwise", jobspec.Env{Pip: []string{"numpy", "Torch"}, Requirements: []string{"req.txt"}}, base},
		{"name, setenv and stage do not count", jobspec.Env{Pip: []string{"numpy", "torch"}, Requirements: []string{"req.txt"}, Name: "x", SetEnv: []string{"A=1"}}, base},
	}
	var want string
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Canonicalize(&tc.env, tc.dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				want = s.Key()
			} else if got := s.Key(); got != want {
				t.Errorf("key %s, want %s; spec %+v", got, want, s)
			}
		})
	}
}

// TestSpecKeyChanges: every field that changes what gets built changes the
// key.
func TestSpecKeyChanges(t *testing.T) {
	cfg := testConfig(t)
	dir := writeFiles(t, map[string]string{"a.txt": "numpy\n", "b.txt": "numpy==1.25\n"})
	base := jobspec.Env{Pip: []string{"numpy"}}
	cases := []struct {
		name   string
		change func(e *jobspec.Env)
	}{
		{"another package", func(e *jobspec.Env) { e.Pip = append(e.Pip, "scipy") }},
		{"a version pin", func(e *jobspec.Env) { e.Pip = []string{"numpy==1.26"} }},
		{"python", func(e *jobspec.Env) { e.Python = "3.12" }},
		{"a module", func(e *jobspec.Env) { e.Modules = []string{"cuda/12.1"} }},
		{"module order", func(e *jobspec.Env) { e.Modules = []string{"cuda/12.1", "gcc/12"} }},
		{"manager", func(e *jobspec.Env) { e.Manager = "uv" }},
		{"index", func(e *jobspec.Env) { e.IndexURL = "https://example.invalid/simple" }},
		{"find-links", func(e *jobspec.Env) { e.FindLinks = []string{"/wheels"} }},
		{"no-index", func(e *jobspec.Env) { e.NoIndex = true }},
		{"requirements contents", func(e *jobspec.Env) { e.Pip = nil; e.Requirements = []string{"b.txt"} }},
	}
	baseSpec, err := Canonicalize(&base, dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{baseSpec.Key(): "base"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := base
			env.Pip = append([]string(nil), base.Pip...)
			tc.change(&env)
			s, err := Canonicalize(&env, dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if prev, dup := seen[s.Key()]; dup {
				t.Errorf("key %s is the same as for %q", s.Key(), prev)
			}
			seen[s.Key()] = tc.name
		})
	}
	modOrder := jobspec.Env{Pip: []string{"numpy"}, Modules: []string{"gcc/12", "cuda/12.1"}}
	s, _ := Canonicalize(&modOrder, dir, cfg)
	if seen[s.Key()] != "" {
		t.Errorf("reversed module order shares a key with %q: module order matters", seen[s.Key()])
	}
}

// TestEnvIDSharedAndDistinct: two specs that lock to the same packages
// share an env ID; anything that changes the installed files changes it.
func TestEnvIDSharedAndDistinct(t *testing.T) {
	base := Lock{Version: 1, SpecKey: "a", Manager: "uv", Tool: "uv 0.5.0", Python: "/usr/bin/python3.11", PythonVersion: "3.11.2",
		Platform: "linux-amd64-glibc2.36", Packages: []Package{wheel("numpy", "1.26.4", "aa"), wheel("six", "1.16.0", "bb")}}
	same := base
	same.SpecKey = "b" // another spec that solved to the same set
	same.Packages = []Package{base.Packages[1], base.Packages[0]}
	same.FindLinks = []string{"/elsewhere"} // where files came from does not change them
	if base.EnvID() != same.EnvID() {
		t.Errorf("same packages, different env IDs")
	}
	changes := map[string]func(l *Lock){
		"package version": func(l *Lock) { l.Packages = []Package{wheel("numpy", "2.0.0", "aa"), l.Packages[1]} },
		"file hash":       func(l *Lock) { l.Packages = []Package{wheel("numpy", "1.26.4", "cc"), l.Packages[1]} },
		"interpreter":     func(l *Lock) { l.Python = "/opt/python/bin/python3.11" },
		"python version":  func(l *Lock) { l.PythonVersion = "3.11.9" },
		"modules":         func(l *Lock) { l.Modules = []string{"cuda/12.1"} },
		"tool version":    func(l *Lock) { l.Tool = "uv 0.6.0" },
		"platform":        func(l *Lock) { l.Platform = "linux-arm64-glibc2.36" },
		"conda explicit":  func(l *Lock) { l.Explicit = "@EXPLICIT\nhttps://x/a.conda#00" },
		"vcs commit": func(l *Lock) {
			l.Packages = append(l.Packages, Package{Name: "z", VCS: &VCS{Type: "git", URL: "file:///r", CommitID: "c1"}})
		},
		"source tree": func(l *Lock) { l.Trees = map[string]string{"/src/p": "t1"} },
	}
	for name, change := range changes {
		l := base
		l.Packages = append([]Package(nil), base.Packages...)
		change(&l)
		if l.EnvID() == base.EnvID() {
			t.Errorf("%s changed but the env ID did not", name)
		}
	}
}

func TestNormalizeRequirement(t *testing.T) {
	cases := map[string]string{
		"NumPy >= 1.26":                        "numpy>=1.26",
		"scikit_learn":                         "scikit-learn",
		"Foo.Bar[extra] == 1.0":                "foo-bar[extra]==1.0",
		"torch==2.3.* ; sys_platform=='linux'": "torch==2.3.*; sys_platform=='linux'",
	}
	for in, want := range cases {
		if got := NormalizeRequirement(in); got != want {
			t.Errorf("NormalizeRequirement(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLockRoundTrip(t *testing.T) {
	l := &Lock{Version: LockVersion, SpecKey: "k", Manager: "venv", Tool: "pip 23", Platform: "p",
		Packages: []Package{wheel("a", "1", "ff"),
			{Name: "d", Archive: &Artifact{URL: "file:///w/d-3.0-py3-none-any.whl", Hashes: map[string]string{"sha256": "ee"}}},
			{Name: "z", VCS: &VCS{Type: "git", URL: "file:///r/z", CommitID: "c1"}},
			{Name: "e", Directory: &Directory{Path: "/src/e", Editable: true}}},
		FindLinks: []string{"/w"}, NoIndex: true}
	data, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseLock(data, "x.lock")
	if err != nil {
		t.Fatal(err)
	}
	hashed, unhashed := back.Requirements()
	if back.EnvID() != l.EnvID() ||
		hashed != "a @ file:///w/a-1-py3-none-any.whl --hash=sha256:ff\nd @ file:///w/d-3.0-py3-none-any.whl --hash=sha256:ee\n" ||
		unhashed != "z @ git+file://localhost/r/z@c1\n-e /src/e\n" {
		t.Errorf("round trip changed the lock:\n%s\nhashed %q\nunhashed %q", data, hashed, unhashed)
	}
	// the file is a pylock.toml: its packages read back as PEP 751 packages
	pkgs, err := ParsePylock(data, "x.lock", "/")
	if err != nil || len(pkgs) != 4 {
		t.Errorf("ParsePylock of a senv lock: %v %v", pkgs, err)
	}
	for _, old := range []string{"version = 1\nspec_key = \"k\"\n", "lock-version = \"1.0\"\n[tool.senv]\nversion = 3\n"} {
		if _, err := ParseLock([]byte(old), "x.lock"); err == nil || !strings.Contains(err.Error(), "--upgrade") {
			t.Errorf("a lock of another version: %v", err)
		}
	}
}

// wheel is a registry package with one wheel.
func wheel(name, version, sha string) Package {
	return Package{Name: name, Version: version, Wheels: []Artifact{{Name: name + "-" + version + "-py3-none-any.whl",
		URL: "file:///w/" + name + "-" + version + "-py3-none-any.whl", Hashes: map[string]string{"sha256": sha}}}}
}

// TestSpecKeyFollowsInterpreter: another python first on PATH is another
// spec, even under the same name.
func TestSpecKeyFollowsInterpreter(t *testing.T) {
	cfg := testConfig(t)
	bin1, bin2 := t.TempDir(), t.TempDir()
	for _, d := range []string{bin1, bin2} {
		os.WriteFile(filepath.Join(d, "python3"), []byte("#!/bin/sh\n"), 0o755)
	}
	key := func(path string) string {
		t.Setenv("PATH", path)
		s, err := Canonicalize(&jobspec.Env{Pip: []string{"numpy"}}, t.TempDir(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s.Key()
	}
	if key(bin1) == key(bin2) {
		t.Error("two different python3 on PATH gave one spec key")
	}
	if key(bin1) != key(bin1+":"+bin2) {
		t.Error("the same python3 gave two spec keys")
	}
}

// TestInterpreterFromUV_FakeUV: with manager uv and no pythonX.Y on PATH,
// the interpreter comes from `uv python find X.Y`. The uv here is a stand-in
// script: a uv-managed Python cannot be downloaded on this machine.
func TestInterpreterFromUV_FakeUV(t *testing.T) {
	real, err := exec.LookPath("python3.11")
	if err != nil {
		t.Skip("needs a python3.11 to stand for a uv-managed one")
	}
	bin := t.TempDir()
	uv := filepath.Join(bin, "uv")
	os.WriteFile(uv, []byte("#!/bin/sh\n[ \"$1 $2 $3\" = 'python find 3.11' ] && echo "+real+"\n"), 0o755)
	t.Setenv("PATH", bin+":/bin") // no python3.11 here
	s := &Spec{Manager: "uv", Python: "3.11", Interpreter: "python3.11"}
	path, version, err := Interpreter(context.Background(), s, Runner{}, uv)
	if err != nil || !strings.HasPrefix(version, "3.11.") || path == "" {
		t.Errorf("Interpreter = %q %q %v", path, version, err)
	}
}

// TestPickInterpreter: a version range takes the newest python3.N on PATH
// that it allows, reading directory listings only; with none it fails
// listing what it found (or, for uv, leaves the choice to uv).
func TestPickInterpreter(t *testing.T) {
	bin := t.TempDir()
	for _, n := range []string{"python3.9", "python3.11", "python3.12", "python3.12-config", "python3"} {
		os.WriteFile(filepath.Join(bin, n), []byte("#!/bin/sh\n"), 0o755)
	}
	t.Setenv("PATH", bin)
	cases := []struct{ spec, manager, want, err string }{
		{">=3.10,<3.12", "venv", "python3.11", ""},
		{">=3.8", "venv", "python3.12 python3.11 python3.9", ""},
		{"~=3.9.0", "venv", "python3.9", ""},
		{"!=3.12.*", "venv", "python3.11 python3.9", ""},
		{">=3.13", "venv", "", `no python on PATH satisfies ">=3.13" (found ` + bin + "/python3.11, "},
		{">=3.13", "uv", "", ""},
	}
	for _, tc := range cases {
		spec, _ := jobspec.ParsePythonSpec(tc.spec)
		names, err := pickInterpreter(spec, tc.manager)
		got := strings.Join(names, " ")
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("pickInterpreter(%s, %s) = %q, %v; want %q, %q", tc.spec, tc.manager, got, err, tc.want, tc.err)
		}
	}
}

// TestPythonRangeSolve: a range is checked against the full version of the
// real interpreter it picks, and recorded in the lock.
func TestPythonRangeSolve(t *testing.T) {
	real, err := exec.LookPath("python3.11")
	if err != nil {
		t.Fatal("needs python3.11")
	}
	bin := t.TempDir()
	os.Symlink(real, filepath.Join(bin, "python3.11"))
	t.Setenv("PATH", bin+":/usr/bin:/bin")
	cfg := testConfig(t)
	for spec, ok := range map[string]bool{">=3.8": true, ">=3.10,<3.12": true, ">=3.11.99": false} {
		s, err := Canonicalize(&jobspec.Env{Python: spec, Manager: "venv"}, t.TempDir(), cfg)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		path, version, err := Interpreter(context.Background(), s, Runner{}, "uv")
		if ok != (err == nil) {
			t.Errorf("%s: %q %q %v", spec, path, version, err)
		}
	}
}

// TestPythonRangeFromSiteModules: with python_module set, a range takes the
// newest site python module it allows, from a real Lmod tree.
func TestPythonRangeFromSiteModules(t *testing.T) {
	const lmodInit = "/usr/share/lmod/lmod/init/sh"
	if _, err := os.Stat(lmodInit); err != nil {
		t.Fatalf("Lmod is needed (%s)", lmodInit)
	}
	mods := t.TempDir()
	for _, v := range []string{"3.9.18", "3.10.13", "3.11.5", "3.12.1"} {
		os.MkdirAll(filepath.Join(mods, "python"), 0o755)
		os.WriteFile(filepath.Join(mods, "python", v+".lua"), []byte("-- python "+v+"\n"), 0o644)
	}
	t.Setenv("MODULEPATH", mods)
	t.Setenv("HOME", t.TempDir())
	cfg := testConfig(t)
	cfg.PythonModule = "python/{version}"
	cfg.ModuleInit = []string{lmodInit}
	for spec, want := range map[string]string{">=3.10,<3.12": "python/3.11.5", ">=3.8": "python/3.12.1", "~=3.9.0": "python/3.9.18", "3.11": "python/3.11"} {
		s, err := Canonicalize(&jobspec.Env{Python: spec, Manager: "venv", Pip: []string{"six"}}, t.TempDir(), cfg)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if len(s.Modules) == 0 || s.Modules[0] != want {
			t.Errorf("%s: modules %q, want %s first", spec, s.Modules, want)
		}
	}
}

// TestPythonRangeHungModuleSystem_FakeInit: a module system that hangs (a
// fake init script whose child holds the pipe: a hung filesystem cannot be
// made here) is given up at moduleAvailTimeout, and the range is matched
// against the PATH. Before, the job start (or the TaskProlog) waited for it.
func TestPythonRangeHungModuleSystem_FakeInit(t *testing.T) {
	init := filepath.Join(t.TempDir(), "init.sh")
	if err := os.WriteFile(init, []byte("sleep 60 &\nsleep 60\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := moduleAvailTimeout
	moduleAvailTimeout = 200 * time.Millisecond
	t.Cleanup(func() { moduleAvailTimeout = saved })
	cfg := testConfig(t)
	cfg.PythonModule = "python/{version}"
	cfg.ModuleInit = []string{init}
	spec, _ := jobspec.ParsePythonSpec(">=3.8")
	start := time.Now()
	if got := pickPythonModule(spec, cfg); got != "" {
		t.Errorf("pickPythonModule = %q, want none", got)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("pickPythonModule took %s with a 200 ms bound", took.Round(time.Millisecond))
	}
}
