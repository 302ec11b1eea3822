package wrapper

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/internal/wheelhouse"
	"github.com/senv-hpc/senv/jobspec"
)

// fakeExec records what would have been exec'd (the real exec cannot
// return to the test).
type fakeExec struct{ argv []string }

func (f *fakeExec) Exec(argv, _ []string) error { f.argv = argv; return nil }

func options(t *testing.T) Options {
	t.Helper()
	py := "python3"
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		py = "/usr/bin/python3"
	}
	cfg, err := config.Load(func(string) string { return "" }, map[string]string{
		"cache_dir": t.TempDir(), "stage_dir": filepath.Join(t.TempDir(), "stage"), "python": py, "default_manager": "venv",
	})
	if err != nil {
		t.Fatal(err)
	}
	return Options{Config: cfg, Dir: t.TempDir(), Logf: t.Logf}
}

// runActivation runs argv (from Prepared.Run) for real and returns stdout.
func runActivation(t *testing.T, argv []string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return string(out)
}

func TestPrepareModulesOnly(t *testing.T) {
	o := options(t)
	init := filepath.Join(t.TempDir(), "init.sh")
	// a stand-in module system: the real Lmod is tested end to end in e2e
	os.WriteFile(init, []byte("module() { [ \"$1\" = load ] && shift && MODS_LOADED=\"$*\" && export MODS_LOADED; }\n"), 0o644)
	o.Config.ModuleInit = []string{"/nonexistent/init", init}
	p, err := Prepare(context.Background(), &jobspec.Env{Modules: []string{"cuda/12.1", "gcc/12"}, SetEnv: []string{"A=b c"}}, o)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "" || p.Lock != nil {
		t.Fatalf("a modules-only spec built env %q", p.ID)
	}
	var f fakeExec
	if err := p.Run(&f, []string{"sh", "-c", `echo "$MODS_LOADED|$A"`}); err != nil {
		t.Fatal(err)
	}
	if got := runActivation(t, f.argv); got != "cuda/12.1 gcc/12|b c\n" {
		t.Errorf("payload saw %q", got)
	}
}

func TestPrepareUseExistingVenv(t *testing.T) {
	o := options(t)
	venv := filepath.Join(t.TempDir(), "myenv")
	if out, err := exec.Command(o.Config.Python, "-m", "venv", "--without-pip", venv).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	p, err := Prepare(context.Background(), &jobspec.Env{Use: venv}, o)
	if err != nil {
		t.Fatal(err)
	}
	var f fakeExec
	p.Run(&f, []string{"sh", "-c", `echo "$VIRTUAL_ENV"; command -v python`})
	if got := runActivation(t, f.argv); got != venv+"\n"+venv+"/bin/python\n" {
		t.Errorf("payload saw %q", got)
	}
	if _, err := Prepare(context.Background(), &jobspec.Env{Use: t.TempDir()}, o); err == nil {
		t.Error("use of a directory that is no env was accepted")
	}
}

// TestStageNone: `stage none` builds in place in the shared cache and runs
// from there, with no archive.
func TestStageNone(t *testing.T) {
	o := options(t)
	wh, err := wheelhouse.BuildAll(t.TempDir(), wheelhouse.Standard)
	if err != nil {
		t.Fatal(err)
	}
	env := &jobspec.Env{Pip: []string{"gamma"}, FindLinks: []string{wh}, NoIndex: true, Stage: "none"}
	p, err := Prepare(context.Background(), env, o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Prefix, o.Config.CacheDir) {
		t.Errorf("stage none env at %s, want under the cache %s", p.Prefix, o.Config.CacheDir)
	}
	if _, err := os.Stat(filepath.Join(o.Config.CacheDir, "v1", "envs", p.ID)); err == nil {
		t.Error("stage none published an archive")
	}
	var f fakeExec
	p.Run(&f, []string{"gamma-hello"})
	if got := runActivation(t, f.argv); got != "hello from gamma 2.0\n" {
		t.Errorf("payload saw %q", got)
	}
	again, err := Prepare(context.Background(), env, o)
	if err != nil || again.Outcome != "staged" {
		t.Errorf("second prepare: %v %v", again, err)
	}
}

func TestScriptArgv(t *testing.T) {
	cases := []struct {
		shebang string
		want    string
	}{
		{"", "/bin/sh job.sh a"},
		{"/bin/bash", "/bin/bash job.sh a"},
		{"/bin/bash -l", "/bin/bash -l job.sh a"},
		{"/usr/bin/env python3", "/usr/bin/env python3 job.sh a"},
		// uv and pipx would build an env of their own: the env's python runs it
		{"/usr/bin/env -S uv run --script", "python job.sh a"},
		{"/usr/bin/env -S uv run --quiet --script", "python job.sh a"},
		{"/usr/local/bin/uv run --script", "python job.sh a"},
		{"/usr/bin/env -S pipx run", "python job.sh a"},
		{"/usr/bin/env uvx", "/usr/bin/env uvx job.sh a"},
	}
	for _, tc := range cases {
		got, err := ScriptArgv(tc.shebang, "job.sh", []string{"a"})
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("ScriptArgv(%q) = %q, %v; want %q", tc.shebang, got, err, tc.want)
		}
	}
}

func TestTaskPrologLines(t *testing.T) {
	lines, warnings := TaskPrologLines(map[string]string{"PATH": "/env/bin:/usr/bin", "MSG": "it's $(x)", "BAD": "a\nb"}, []string{"PYTHONHOME"})
	want := []string{"export MSG=it's $(x)", "export PATH=/env/bin:/usr/bin", "unset PYTHONHOME"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines %q, want %q", lines, want)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "BAD") {
		t.Errorf("a value with a newline was not refused: %q", warnings)
	}
}
