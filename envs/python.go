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
	if err := run(ctx, r, log, l.Python, "-m", "venv", prefix); err != nil {
		return fmt.Errorf("failed to create venv: %w", err)
	}
	if len(l.Packages) == 0 {
		return nil
	}
	return installLocked(ctx, r, l, prefix, "", log)
}

// uvBackend builds with `uv venv` and `uv pip install`, copying files out of
// uv's cache (the env is packed, so links into the cache would be lost).
type uvBackend struct{ uv string }

func (uvBackend) Kind() string { return "venv" }

func (b uvBackend) Create(ctx context.Context, r solver.Runner, l *solver.Lock, prefix string, log io.Writer) error {
	if err := run(ctx, r, log, b.uv, "venv", "--quiet", "--python", l.Python, prefix); err != nil {
		return fmt.Errorf("failed to create venv with uv: %w", err)
	}
	if len(l.Packages) == 0 {
		return nil
	}
	return installLocked(ctx, r, l, prefix, b.uv, log)
}

// installLocked installs the lock's Python packages (l.Packages) into the
// env at prefix, exactly as locked and without a resolver: with uv when uv
// names its binary, else with the env's own pip. Every backend that
// installs Python packages (venv, uv, a conda env with a pip part) calls it.
func installLocked(ctx context.Context, r solver.Runner, l *solver.Lock, prefix, uv string, log io.Writer) error {
	reqs, err := writeLockRequirements(l, prefix)
	if err != nil {
		return err
	}
	defer os.Remove(reqs)
	python := filepath.Join(prefix, "bin", "python")
	if uv == "" {
		args := append([]string{python, "-m", "pip", "install", "--no-deps", "--require-hashes",
			"--disable-pip-version-check", "--no-input", "--quiet"}, l.SourceArgs()...)
		if err := run(ctx, r, log, append(args, "-r", reqs)...); err != nil {
			return fmt.Errorf("failed to install locked packages with pip: %w", err)
		}
		return nil
	}
	args := append([]string{uv, "pip", "install", "--quiet", "--python", python,
		"--no-deps", "--require-hashes", "--link-mode", "copy", "--compile-bytecode"}, l.SourceArgs()...)
	if err := run(ctx, r, log, append(args, "-r", reqs)...); err != nil {
		return fmt.Errorf("failed to install locked packages with uv: %w", err)
	}
	return nil
}

// writeLockRequirements writes the lock as a hashed requirements file next
// to prefix (not inside it: it must not be packed).
func writeLockRequirements(l *solver.Lock, prefix string) (string, error) {
	path := prefix + ".requirements.txt"
	if err := os.WriteFile(path, []byte(l.Requirements()), 0o600); err != nil {
		return "", fmt.Errorf("failed to write locked requirements: %w", err)
	}
	return path, nil
}

// run runs argv through r with both output streams to log.
func run(ctx context.Context, r solver.Runner, log io.Writer, argv ...string) error {
	cmd, err := r.Cmd(ctx, argv...)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", argv[0], err)
	}
	return nil
}
