package envs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/senv-hpc/senv/solver"
)

// TestCompileBytecode runs the bytecode step with a real interpreter on a
// venv's site-packages: every .py that compiles gets a current .pyc (on
// several workers when there are many), a current .pyc is kept, a stale one
// replaced, code that does not compile and a dangling symlink are passed
// over as pip and uv pass them over, nothing outside site-packages is
// compiled, and a py_compile.py in the working directory is not imported.
// A .pyc that cannot be written fails the step.
func TestCompileBytecode(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is not on PATH")
	}
	prefix := filepath.Join(t.TempDir(), "env")
	if out, err := exec.Command(python, "-m", "venv", "--without-pip", prefix).CombinedOutput(); err != nil {
		t.Fatalf("venv: %v\n%s", err, out)
	}
	site, _ := filepath.Glob(filepath.Join(prefix, "lib", "*", "site-packages"))
	if len(site) != 1 {
		t.Fatalf("site-packages: %v", site)
	}
	tag := strings.TrimSpace(runOut(t, filepath.Join(prefix, "bin", "python"), "-c", "import sys; print(sys.implementation.cache_tag)"))
	write := func(rel, text string) string {
		t.Helper()
		p := filepath.Join(site[0], rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pyc := func(src string) string {
		return filepath.Join(filepath.Dir(src), "__pycache__", strings.TrimSuffix(filepath.Base(src), ".py")+"."+tag+".pyc")
	}
	const many = 2*filesPerWorker + 50 // more than one worker's share
	for i := range many {
		write(fmt.Sprintf("pkg/m%d.py", i), fmt.Sprintf("X = %d\n", i))
	}
	init := write("pkg/__init__.py", "X = 1\n")
	old := write("pkg/py2.py", "print \"vendored Python 2\"\n")
	kept := write("pkg/kept.py", "K = 1\n")
	stale := write("pkg/stale.py", "S = 1\n")
	runOut(t, filepath.Join(prefix, "bin", "python"), "-m", "py_compile", kept, stale)
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(pyc(kept), past, past); err != nil {
		t.Fatal(err)
	}
	staleBefore, _ := os.ReadFile(pyc(stale))
	write("pkg/stale.py", "S = 22\n") // a new size: its .pyc is no longer current
	if err := os.Symlink("missing.py", filepath.Join(site[0], "pkg", "dangling.py")); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(prefix, "bin", "tool.py")
	if err := os.WriteFile(outside, []byte("T = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// the user's working directory may shadow the standard library
	cwd := t.TempDir()
	if err := os.WriteFile(filepath.Join(cwd, "py_compile.py"), []byte("raise SystemExit('shadowed')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(cwd)

	var log strings.Builder
	if err := compileBytecode(context.Background(), solver.Runner{}, prefix, &log); err != nil {
		t.Fatalf("compileBytecode: %v\n%s", err, log.String())
	}
	for _, src := range []string{init, filepath.Join(site[0], "pkg", "m0.py"), filepath.Join(site[0], "pkg", fmt.Sprintf("m%d.py", many-1))} {
		if got := runOut(t, filepath.Join(prefix, "bin", "python"), "-c", currentPyc, src); got != "current\n" {
			t.Errorf("%s: %s", src, got)
		}
	}
	if fi, err := os.Stat(pyc(kept)); err != nil || !fi.ModTime().Equal(past) {
		t.Errorf("the current .pyc of kept.py was rewritten (or lost: %v)", err)
	}
	if after, _ := os.ReadFile(pyc(stale)); string(after) == string(staleBefore) {
		t.Error("the stale .pyc of stale.py was kept")
	}
	for _, p := range []string{pyc(old), pyc(outside), pyc(filepath.Join(site[0], "pkg", "dangling.py"))} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was written", p)
		}
	}

	// a .pyc that cannot be written: __pycache__ is a file
	bad := write("broken/__init__.py", "B = 1\n")
	if err := os.WriteFile(filepath.Join(filepath.Dir(bad), "__pycache__"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	err = compileBytecode(context.Background(), solver.Runner{}, prefix, &log)
	if err == nil || !strings.Contains(err.Error(), "failed to compile the env's bytecode") || !strings.Contains(log.String(), "__pycache__") {
		t.Errorf("unwritable .pyc: err %v, output %q; want the step to fail naming the path", err, log.String())
	}
	if left, _ := filepath.Glob(prefix + ".bytecode.*"); len(left) != 0 {
		t.Errorf("worker lists left beside the env: %v", left)
	}
}

// currentPyc prints "current" when the .pyc of source file argv[1] holds
// its mtime and size, as Python's import checks them.
const currentPyc = `import importlib.util, os, sys
src = sys.argv[1]
h = open(importlib.util.cache_from_source(src), "rb").read(16)
st = os.stat(src)
ok = h[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(h[8:12], "little") == int(st.st_mtime) and int.from_bytes(h[12:16], "little") == st.st_size
print("current" if ok else "not current: %r" % h)`

func runOut(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}
