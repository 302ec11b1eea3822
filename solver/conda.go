package solver

import (
	"context"
	"fmt"

	"github.com/senv-hpc/senv/config"
)

// solveConda is filled in by the conda-family resolver.
func solveConda(ctx context.Context, l *Lock, s *Spec, r Runner, cfg *config.Config, tmp string) error {
	return fmt.Errorf("failed to solve: conda-family manager %q is not supported yet", s.Manager)
}
