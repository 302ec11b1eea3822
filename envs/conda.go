package envs

import (
	"context"
	"fmt"
	"io"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/solver"
)

type condaBackend struct{ manager string }

func newCondaBackend(manager string, _ *config.Config) Backend { return condaBackend{manager: manager} }

func (condaBackend) Kind() string { return "conda" }

func (b condaBackend) Create(context.Context, solver.Runner, *solver.Lock, string, io.Writer) error {
	return fmt.Errorf("conda-family builds are not supported yet")
}
