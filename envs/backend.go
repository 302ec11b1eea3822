package envs

import (
	"context"
	"fmt"
	"io"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/solver"
)

// Backend builds an environment from a lock. Implementations hold no state
// between calls and are safe for concurrent use.
type Backend interface {
	// Create builds the environment locked by l at prefix, which does not
	// exist yet. It runs its tools through r (the spec's modules loaded) and
	// writes their output to log. On error the caller removes prefix.
	Create(ctx context.Context, r solver.Runner, l *solver.Lock, prefix string, log io.Writer) error
	// Compile finishes what Create built: it writes the bytecode of the
	// Python packages Create installed without it. The build calls it
	// after Create and Store.Installed, before the env is packed.
	Compile(ctx context.Context, r solver.Runner, l *solver.Lock, prefix string, log io.Writer) error
	// Kind is the activation kind of what Create builds: "venv" or "conda".
	Kind() string
}

// BackendFor returns the Backend for a manager name.
func BackendFor(manager string, cfg *config.Config) (Backend, error) {
	switch manager {
	case "venv":
		return venvBackend{}, nil
	case "uv":
		return uvBackend{uv: cfg.UV}, nil
	case "conda", "mamba", "micromamba":
		return newCondaBackend(manager, cfg), nil
	}
	return nil, fmt.Errorf("failed to pick a builder: unknown manager %q", manager)
}
