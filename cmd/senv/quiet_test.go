package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/internal/wheelhouse"
)

// fakeExec stands in for the exec that would replace the test process.
type fakeExec struct{ argv []string }

func (f *fakeExec) Exec(argv, _ []string) error { f.argv = argv; return nil }

// uvWheelhouse makes the test hermetic with the real uv (a CI host must
// have it) and a stage dir in a temp dir, and writes the standard test
// wheelhouse; it returns the temp dir and the wheelhouse.
func uvWheelhouse(t *testing.T) (tmp, wh string) {
	t.Helper()
	hermetic(t)
	uv, err := exec.LookPath("uv")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("uv is not installed; CI must have it")
		}
		t.Skip("uv is not installed")
	}
	tmp = t.TempDir()
	wh, err = wheelhouse.BuildAll(filepath.Join(tmp, "wheels"), wheelhouse.Standard)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SENV_UV", uv)
	t.Setenv("SENV_STAGE_DIR", filepath.Join(tmp, "stage"))
	return tmp, wh
}

// TestQuiet: -q/--quiet silences the phase lines whether it comes before
// the command (a global flag) or after it. `senv -q run` printed them: the
// command's own, unset --quiet flag shadowed the global one.
func TestQuiet(t *testing.T) {
	_, wh := uvWheelhouse(t)
	spec := []string{"--manager", "uv", "--find-links", wh, "--no-index", "--pip", "alpha", "--", "alpha-hello"}
	old := execer
	t.Cleanup(func() { execer = old })
	cases := []struct {
		name  string
		args  []string // before the spec
		quiet bool
	}{
		{"no flag", []string{"run"}, false}, // first: builds and stages
		{"-q before the command", []string{"-q", "run"}, true},
		{"--quiet before the command", []string{"--quiet", "run"}, true},
		{"-q after the command", []string{"run", "-q"}, true},
		{"no flag again", []string{"run"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeExec{}
			execer = fake
			r := senv(t, append(tc.args, spec...)...)
			if r.code != 0 || len(fake.argv) == 0 || fake.argv[len(fake.argv)-1] != "alpha-hello" {
				t.Fatalf("senv %s: exit %d, exec %q\n%s", strings.Join(tc.args, " "), r.code, fake.argv, r.stderr)
			}
			if quiet := len(r.stderr) == 0; quiet != tc.quiet {
				t.Errorf("senv %s: stderr %q, want quiet=%v", strings.Join(tc.args, " "), r.stderr, tc.quiet)
			}
		})
	}
}
