package envs

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/solver"
)

// condaBackend builds a conda-family env from the lock's @EXPLICIT list:
// `create --file` downloads exactly those package files, checks each against
// its MD5 and installs them in the listed order, without a solve.
type condaBackend struct{ manager, bin string }

func newCondaBackend(manager string, cfg *config.Config) Backend {
	return condaBackend{manager: manager, bin: solver.CondaBinary(manager, cfg)}
}

func (condaBackend) Kind() string { return "conda" }

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
	if err := run(ctx, r, log, condaCreateArgs(b.bin, prefix, file)...); err != nil {
		return fmt.Errorf("failed to create %s env: %w", b.manager, err)
	}
	return nil
}

// condaCreateArgs returns the command that installs an explicit file into a
// new prefix. conda, mamba and micromamba take the same flags, and all three
// recognise the file as explicit by its @EXPLICIT line.
func condaCreateArgs(bin, prefix, file string) []string {
	return []string{bin, "create", "--yes", "--quiet", "--prefix", prefix, "--file", file}
}
