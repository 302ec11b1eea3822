package envs

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/senv-hpc/senv/solver"
)

// venvBackend builds with the standard library's venv and pip.
type venvBackend struct{}

func (venvBackend) Kind() string { return "venv" }

func (venvBackend) Create(ctx context.Context, r solver.Runner, l *solver.Lock, prefix string, log io.Writer) error {
	if err := run(ctx, r, log, solver.PythonModule(l.Python, "venv", append(systemSite(l), prefix)...)...); err != nil {
		return fmt.Errorf("failed to create venv: %w", err)
	}
	if len(l.Packages) == 0 {
		return nil
	}
	return installLocked(ctx, r, l, prefix, "", log)
}

// Compile writes the bytecode of the locked packages (pip installed them
// with --no-compile).
func (venvBackend) Compile(ctx context.Context, r solver.Runner, l *solver.Lock, prefix string, log io.Writer) error {
	return compileLocked(ctx, r, l, prefix, log)
}

// uvBackend builds with `uv venv` and `uv pip install`, copying files out of
// uv's cache (the env is packed, so links into the cache would be lost).
type uvBackend struct{ uv string }

func (uvBackend) Kind() string { return "venv" }

func (b uvBackend) Create(ctx context.Context, r solver.Runner, l *solver.Lock, prefix string, log io.Writer) error {
	if err := run(ctx, r, log, append([]string{b.uv, "venv", "--quiet", "--python", l.Python}, append(systemSite(l), prefix)...)...); err != nil {
		return fmt.Errorf("failed to create venv with uv: %w", err)
	}
	if len(l.Packages) == 0 {
		return nil
	}
	return installLocked(ctx, r, l, prefix, b.uv, log)
}

// Compile writes the bytecode of the locked packages (uv installed them
// with --no-compile-bytecode, whatever UV_COMPILE_BYTECODE or uv.toml say).
func (uvBackend) Compile(ctx context.Context, r solver.Runner, l *solver.Lock, prefix string, log io.Writer) error {
	return compileLocked(ctx, r, l, prefix, log)
}

// systemSite is the venv option for a lock that sees the base
// interpreter's packages; both venv and uv venv spell it the same.
func systemSite(l *solver.Lock) []string {
	if l.SystemSite {
		return []string{"--system-site-packages"}
	}
	return nil
}

// installLocked installs the lock's Python packages (l.Packages) into the
// env at prefix, exactly as locked and without a resolver: with uv from the
// lock's pylock.toml when uv names its binary, else with the env's own pip
// from hashed requirements (--require-hashes) and then the VCS checkouts
// and source trees, which hash-checking mode refuses. Every backend that
// installs Python packages (venv, uv, a conda env with a pip part) calls it,
// and then compileLocked from its Compile: the install writes no bytecode.
func installLocked(ctx context.Context, r solver.Runner, l *solver.Lock, prefix, uv string, log io.Writer) error {
	python := filepath.Join(prefix, "bin", "python")
	if uv != "" {
		// uv reads a pylock.toml by its name: pylock.toml or pylock.NAME.toml
		lockFile := filepath.Join(filepath.Dir(prefix), "pylock."+filepath.Base(prefix)+".toml")
		data, err := l.Pylock()
		if err != nil {
			return err
		}
		if err := writeBeside(lockFile, data); err != nil {
			return err
		}
		defer os.Remove(lockFile)
		args := append([]string{uv, "pip", "install", "--quiet", "--python", python,
			"--link-mode", "copy", "--no-compile-bytecode"}, l.SourceArgs()...)
		// the bytecode is a step of its own (Compile): UV_COMPILE_BYTECODE
		// would clash with the flag, which beats a uv.toml
		r.Unset = append(r.Unset[:len(r.Unset):len(r.Unset)], "UV_COMPILE_BYTECODE")
		if err := run(ctx, r, log, append(args, "-r", lockFile)...); err != nil {
			return fmt.Errorf("failed to install locked packages with uv: %w", err)
		}
		return nil
	}
	hashed, unhashed := l.Requirements()
	pip := solver.PythonModule(python, "pip", "install", "--no-deps", "--no-compile", "--disable-pip-version-check", "--no-input", "--quiet")
	for _, step := range []struct {
		reqs, suffix string
		flags        []string
	}{{hashed, ".requirements.txt", []string{"--require-hashes"}}, {unhashed, ".sources.txt", nil}} {
		if step.reqs == "" {
			continue
		}
		file := prefix + step.suffix
		if err := writeBeside(file, []byte(step.reqs)); err != nil {
			return err
		}
		defer os.Remove(file)
		args := append(append(append([]string(nil), pip...), step.flags...), l.SourceArgs()...)
		if err := run(ctx, r, log, append(args, "-r", file)...); err != nil {
			return fmt.Errorf("failed to install locked packages with pip: %w", err)
		}
	}
	return nil
}

// compileLocked compiles the env's site-packages once installLocked has
// installed the lock's Python packages; an env without them (a bare venv,
// a conda env without a pip part) has nothing to compile.
func compileLocked(ctx context.Context, r solver.Runner, l *solver.Lock, prefix string, log io.Writer) error {
	if len(l.Packages) == 0 {
		return nil
	}
	return compileBytecode(ctx, r, prefix, log)
}

// writeBeside writes a file the build reads next to prefix (not inside it:
// it must not be packed).
func writeBeside(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("failed to write locked requirements: %w", err)
	}
	return nil
}

// run runs argv through r with both output streams to log.
func run(ctx context.Context, r solver.Runner, log io.Writer, argv ...string) error {
	return r.Run(ctx, log, log, argv...)
}
