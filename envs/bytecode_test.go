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
// venv's site-packages: every .py that compiles, and a symlink to one, gets
// the .pyc a job's import reads, current, on three workers, whatever
// PYTHONOPTIMIZE and PYTHONPYCACHEPREFIX say; a current .pyc is kept, a
// stale one replaced; code that does not compile, a dangling symlink and a
// .pyc that is not a file's to write are passed over as pip and uv pass them
// over; nothing outside site-packages is compiled, and a py_compile.py in the
// working directory is not imported.
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
	const many = 2*filesPerWorker + 50 // three workers' shares
	saved := maxWorkers
	maxWorkers = 4
	t.Cleanup(func() { maxWorkers = saved })
	var modules []string
	for i := range many {
		modules = append(modules, write(fmt.Sprintf("pkg/m%d.py", i), fmt.Sprintf("X = %d\n", i)))
	}
	real := write("other/real.py", "R = 1\n")
	link := filepath.Join(site[0], "pkg", "link.py")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	modules = append(modules, real, link)
	// not a file's to write: its __pycache__ is a file
	odd := write("odd/__init__.py", "O = 1\n")
	if err := os.WriteFile(filepath.Join(filepath.Dir(odd), "__pycache__"), nil, 0o644); err != nil {
		t.Fatal(err)
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
	// what a user's environment may hold; a job's import reads neither
	t.Setenv("PYTHONOPTIMIZE", "1")
	t.Setenv("PYTHONPYCACHEPREFIX", filepath.Join(cwd, "pycache"))
	t.Setenv("SOURCE_DATE_EPOCH", "")

	var log strings.Builder
	if err := compileBytecode(context.Background(), solver.Runner{}, prefix, &log); err != nil {
		t.Fatalf("compileBytecode: %v\n%s", err, log.String())
	}
	check := exec.Command(filepath.Join(prefix, "bin", "python"), append([]string{"-c", currentPyc, init}, modules...)...)
	check.Env = append(os.Environ(), "PYTHONOPTIMIZE=", "PYTHONPYCACHEPREFIX=")
	if out, err := check.CombinedOutput(); err != nil || string(out) != "current\n" {
		t.Errorf("the modules' .pyc files (%v): %s", err, out)
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
	if left, _ := filepath.Glob(filepath.Join(cwd, "pycache", "*")); len(left) != 0 {
		t.Errorf("PYTHONPYCACHEPREFIX was followed: %v", left)
	}
	if left, _ := filepath.Glob(filepath.Join(site[0], "pkg", "__pycache__", "*.opt-1.pyc")); len(left) != 0 {
		t.Errorf("PYTHONOPTIMIZE was followed: %v", left)
	}
}

// TestCompileBytecodeFullDisk_Root: a filesystem out of room fails the
// step, naming the .pyc (a tmpfs of 1 MiB, mounted as root; pip and uv
// would have shipped the env without its bytecode, exit 0).
func TestCompileBytecodeFullDisk_Root(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root: this test must run")
		}
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	prefix := filepath.Join(dir, "env")
	if out, err := exec.Command("python3", "-m", "venv", "--without-pip", prefix).CombinedOutput(); err != nil {
		t.Fatalf("venv: %v\n%s", err, out)
	}
	site, _ := filepath.Glob(filepath.Join(prefix, "lib", "*", "site-packages"))
	if len(site) != 1 {
		t.Fatalf("site-packages: %v", site)
	}
	src := filepath.Join(site[0], "big.py")
	// a module whose .pyc (its constants) needs more room than is left
	if err := os.WriteFile(src, []byte(fmt.Sprintf("S = %q\n", strings.Repeat("x", 400<<10))), 0o644); err != nil {
		t.Fatal(err)
	}
	fill, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fill.Write(make([]byte, 1<<20)) // until ENOSPC
	fill.Close()
	var log strings.Builder
	err = compileBytecode(context.Background(), solver.Runner{}, prefix, &log)
	if err == nil || !strings.Contains(log.String(), "senv: cannot write") || !strings.Contains(log.String(), "big.") {
		t.Errorf("full disk: err %v, output %q; want the step to fail naming the .pyc", err, log.String())
	}
}

// currentPyc prints "current" when the .pyc of every source file named in
// argv holds its mtime and size, as Python's import checks them.
const currentPyc = `import importlib.util, os, sys
bad = []
for src in sys.argv[1:]:
    h = open(importlib.util.cache_from_source(src), "rb").read(16)
    st = os.stat(src)
    if not (h[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(h[8:12], "little") == int(st.st_mtime) and int.from_bytes(h[12:16], "little") == st.st_size):
        bad.append("%s: %r" % (src, h))
print("\n".join(bad) if bad else "current")`

func runOut(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}
