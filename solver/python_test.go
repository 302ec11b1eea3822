package solver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// shadowDir is a working directory with modules named like the standard
// library's that senv's pip, venv and queries import; each one that is
// imported writes HIT-name and exits 3.
func shadowDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, m := range []string{"typing", "shutil", "platform", "email", "logging"} {
		body := "open(" + pyQuote(filepath.Join(dir, "HIT-"+m)) + ", 'w').close()\nraise SystemExit(3)\n"
		if err := os.WriteFile(filepath.Join(dir, m+".py"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func pyQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

func hits(t *testing.T, dir string) []string {
	t.Helper()
	got, _ := filepath.Glob(filepath.Join(dir, "HIT-*"))
	for _, f := range got {
		_ = os.Remove(f)
	}
	return got
}

// TestPythonArgvIgnoresWorkingDir: pip, venv and a query run through
// PythonModule and PythonCode in a directory holding typing.py, shutil.py,
// platform.py, email.py and logging.py import none of them, with the real
// interpreter; the plain -m and -c forms do (the check can fail). Arguments
// and sys.argv reach the module as under -m, and an interpreter started
// with PYTHONSAFEPATH keeps all of its sys.path.
func TestPythonArgvIgnoresWorkingDir(t *testing.T) {
	// the distribution's, as senv's default SENV_PYTHON: a pyenv build on
	// PATH imports typing before sys.path has the working directory
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("no %s: %v", py, err)
	}
	dir := shadowDir(t)
	probe := t.TempDir() // a module reached through PYTHONPATH: what it is given
	if err := os.WriteFile(filepath.Join(probe, "senvprobe.py"),
		[]byte("import sys\nprint(__name__, sys.argv[1:], sys.argv[0].endswith('senvprobe.py'))\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		argv  []string
		plain []string // the same as python -m / -c: imports from dir
		env   []string
		want  string // in the output; "" for any
	}{
		{name: "pip", argv: PythonModule(py, "pip", "--version"), plain: []string{py, "-m", "pip", "--version"}, want: "pip "},
		{name: "venv", argv: PythonModule(py, "venv", "--without-pip", filepath.Join(t.TempDir(), "v")),
			plain: []string{py, "-m", "venv", "--without-pip", filepath.Join(t.TempDir(), "w")}},
		{name: "code", argv: PythonCode(py, "import platform; print(platform.python_version())"),
			plain: []string{py, "-c", "import platform; print(platform.python_version())"}, want: "3."},
		{name: "arguments as under -m", argv: PythonModule(py, "senvprobe", "a", "-c", "b"),
			env: []string{"PYTHONPATH=" + probe}, want: "__main__ ['a', '-c', 'b'] True"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(tc.argv[0], tc.argv[1:]...)
			cmd.Dir, cmd.Env = dir, append(os.Environ(), tc.env...)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("%v: %v\n%s", tc.argv, err, out)
			}
			if got := hits(t, dir); len(got) != 0 {
				t.Errorf("imported from the working directory: %v", got)
			}
			if tc.plain == nil {
				return
			}
			cmd = exec.Command(tc.plain[0], tc.plain[1:]...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err == nil || len(hits(t, dir)) == 0 {
				t.Errorf("the plain form %v did not import from the working directory: %v\n%s", tc.plain, err, out)
			}
		})
	}
	t.Run("PYTHONSAFEPATH", func(t *testing.T) {
		path := "import sys; print(sys.path)"
		want, err := exec.Command(py, "-P", "-c", path).Output()
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s has no -P (before 3.11): CI's has: %v", py, err)
			}
			t.Skipf("%s has no -P (before 3.11): %v", py, err)
		}
		argv := PythonCode(py, path)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "PYTHONSAFEPATH=1")
		got, err := cmd.Output()
		if err != nil || string(got) != string(want) {
			t.Errorf("sys.path under PYTHONSAFEPATH: %s, want %s (%v)", got, want, err)
		}
	})
}
