package envs

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/senv-hpc/senv/solver"
)

// bytecodeWorker is the Python program of one compile worker.
//
//go:embed bytecode.py
var bytecodeWorker []byte

// filesPerWorker is the least number of files worth a worker of its own
// (each costs an interpreter start, about 20 ms).
const filesPerWorker = 200

// maxWorkers caps the compile workers; 0 is one per CPU this process may
// use (GOMAXPROCS: the affinity mask and the cgroup's CPU quota). Tests set
// it.
var maxWorkers = 0

// runnerTempDir is the TMPDIR r gives its tools (a build's scratch dir),
// else os.TempDir().
func runnerTempDir(r solver.Runner) string {
	for i := len(r.Env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(r.Env[i], "TMPDIR="); ok && v != "" {
			return v
		}
	}
	return os.TempDir()
}

// compileBytecode writes the .pyc file of every .py file in the env's
// site-packages (lib/*/site-packages under prefix), with the env's own
// interpreter run through r, on up to one worker per usable CPU. It is
// what `uv pip install --compile-bytecode` and pip do after an install;
// senv installs without it and compiles afterwards so that a job can be
// queued in between (Store.Installed). A file that does not compile is
// passed over, as pip and uv pass it over; a full or broken filesystem is
// an error (see bytecode.py).
func compileBytecode(ctx context.Context, r solver.Runner, prefix string, log io.Writer) error {
	sources, err := pythonSources(prefix)
	if err != nil {
		return fmt.Errorf("failed to compile the env's bytecode: %w", err)
	}
	if len(sources) == 0 {
		return nil
	}
	workers := maxWorkers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, (len(sources)+filesPerWorker-1)/filesPerWorker)
	// the program and the lists in the build's scratch dir (r's TMPDIR),
	// which the next build or senv gc sweeps if senv is killed
	dir, err := os.MkdirTemp(runnerTempDir(r), "bytecode-")
	if err != nil {
		return fmt.Errorf("failed to compile the env's bytecode: %w", err)
	}
	defer removeTree(dir)
	program := filepath.Join(dir, "bytecode.py")
	lists := make([][]byte, workers)
	for i, src := range sources {
		lists[i%workers] = append(append(lists[i%workers], src...), 0)
	}
	argvs := make([][]string, workers)
	python := filepath.Join(prefix, "bin", "python")
	err = os.WriteFile(program, bytecodeWorker, 0o600)
	for i := 0; i < workers && err == nil; i++ {
		list := filepath.Join(dir, fmt.Sprintf("files.%d", i))
		err = os.WriteFile(list, lists[i], 0o600)
		// -S: no site, so no .pth file of the env runs in the worker
		argvs[i] = []string{python, "-S", program, list}
	}
	if err != nil {
		return fmt.Errorf("failed to compile the env's bytecode: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, workers)
	outs := make([]bytes.Buffer, workers)
	failed := -1 // the first worker to fail; the others are then stopped
	var once sync.Once
	var wg sync.WaitGroup
	for i := range argvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = r.Run(wctx, &outs[i], &outs[i], argvs[i]...); errs[i] != nil {
				once.Do(func() { failed = i; cancel() })
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("failed to compile the env's bytecode: %w", err)
	}
	if failed >= 0 {
		_, _ = io.Copy(log, &outs[failed])
		return fmt.Errorf("failed to compile the env's bytecode (%d files, worker %d of %d): %w", len(sources), failed+1, workers, errs[failed])
	}
	return nil
}

// pythonSources lists the .py files (regular, or symlinks to regular
// files) in prefix's lib/*/site-packages, outside __pycache__.
func pythonSources(prefix string) ([]string, error) {
	libs, err := os.ReadDir(filepath.Join(prefix, "lib"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var sources []string
	for _, lib := range libs {
		dir := filepath.Join(prefix, "lib", lib.Name(), "site-packages")
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		// the separator: a site-packages that is a symlink is walked too
		err = filepath.WalkDir(dir+string(filepath.Separator), func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && d.Name() == "__pycache__":
				return filepath.SkipDir
			case !strings.HasSuffix(path, ".py"):
			case d.Type().IsRegular():
				sources = append(sources, path)
			case d.Type()&fs.ModeSymlink != 0:
				if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
					sources = append(sources, path)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return sources, nil
}
