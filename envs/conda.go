package envs

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/solver"
)

// condaBackend builds a conda-family env from the lock's @EXPLICIT list:
// `create --file` downloads exactly those package files, checks each against
// its MD5 and installs them in the listed order, without a solve. A lock
// with a pip part then gets its Python packages with installLocked, as
// locked (hashes, no resolver).
type condaBackend struct{ manager, bin, uv string }

func newCondaBackend(manager string, cfg *config.Config) Backend {
	return condaBackend{manager: manager, bin: solver.CondaBinary(manager, cfg), uv: cfg.UV}
}

func (condaBackend) Kind() string { return "conda" }

// Compile writes the bytecode of the lock's pip part. conda compiled its
// own packages when it installed them: their .pyc files are current, and
// the step keeps them.
func (condaBackend) Compile(ctx context.Context, r solver.Runner, l *solver.Lock, prefix string, log io.Writer) error {
	return compileLocked(ctx, r, l, prefix, log)
}

func (b condaBackend) Create(ctx context.Context, r solver.Runner, l *solver.Lock, prefix string, log io.Writer) error {
	if !strings.HasPrefix(l.Explicit, "@EXPLICIT\n") {
		return fmt.Errorf("failed to create %s env: the lock has no @EXPLICIT package list (re-lock it with --upgrade)", b.manager)
	}
	// Next to prefix, not inside it: it must not be packed.
	file := prefix + ".explicit.txt"
	if err := os.WriteFile(file, []byte(l.Explicit), 0o600); err != nil {
		return fmt.Errorf("failed to write explicit package list: %w", err)
	}
	defer os.Remove(file)
	// The package cache is node-local scratch beside the stage (never the
	// user's pkgs_dirs on the shared filesystem), kept for the next build.
	r = r.WithCondaPkgsDir(solver.CondaPkgsDir(filepath.Dir(prefix), ""))
	if err := run(ctx, r, log, solver.CondaCreateArgs(b.bin, prefix, file)...); err != nil {
		return fmt.Errorf("failed to create %s env: %w", b.manager, err)
	}
	if len(l.Packages) == 0 {
		return nil
	}
	uv := ""
	if solver.CondaLockUsesUV(l) {
		uv = b.uv
	}
	return installLocked(ctx, r, l, prefix, uv, log)
}
