package envs

import (
	"bytes"
	"context"
	_ "embed"
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
var bytecodeWorker string

// filesPerWorker is the least number of files worth a worker of its own
// (each costs an interpreter start, about 20 ms).
const filesPerWorker = 200

// compileBytecode writes the .pyc file of every .py file in the env's
// site-packages (lib/*/site-packages under prefix), with the env's own
// interpreter run through r, on as many workers as this process may use
// CPUs. It is what `uv pip install --compile-bytecode` and pip do after an
// install; senv installs without it and compiles afterwards so that a job
// can be queued in between (Store.Installed). A file that does not compile
// is left as source, as pip and uv leave it; a .pyc that cannot be written
// is an error.
func compileBytecode(ctx context.Context, r solver.Runner, prefix string, log io.Writer) error {
	dirs, _ := filepath.Glob(filepath.Join(prefix, "lib", "*", "site-packages"))
	var sources []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
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
			return fmt.Errorf("failed to compile the env's bytecode: %w", err)
		}
	}
	if len(sources) == 0 {
		return nil
	}
	workers := min(runtime.NumCPU(), (len(sources)+filesPerWorker-1)/filesPerWorker)
	lists := make([][]byte, workers)
	for i, src := range sources {
		lists[i%workers] = append(append(lists[i%workers], src...), 0)
	}
	python := filepath.Join(prefix, "bin", "python")
	// `python -c` imports from its working directory first: run in the
	// stage dir, not in the user's, which may hold a py_compile.py
	r.Dir = filepath.Dir(prefix)
	errs := make([]error, workers)
	outs := make([]bytes.Buffer, workers)
	var wg sync.WaitGroup
	for i := range lists {
		// Next to prefix, not inside it: it must not be packed.
		list := fmt.Sprintf("%s.bytecode.%d", prefix, i)
		if err := os.WriteFile(list, lists[i], 0o600); err != nil {
			return fmt.Errorf("failed to compile the env's bytecode: %w", err)
		}
		defer os.Remove(list)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.Run(ctx, &outs[i], &outs[i], python, "-c", bytecodeWorker, list)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			_, _ = io.Copy(log, &outs[i])
			return fmt.Errorf("failed to compile the env's bytecode (%d files) with %s: %w", len(sources), python, err)
		}
	}
	return nil
}
