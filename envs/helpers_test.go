package envs

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/senv-hpc/senv/solver"
)

func testLock() *solver.Lock {
	return &solver.Lock{Version: solver.LockVersion, SpecKey: "k", Manager: "venv", Tool: "pip 23", Platform: "p"}
}

// slowBackend is a stand-in Backend (the real ones run in the conformance
// suite) that writes a small tree, slowly enough for builders to overlap.
type slowBackend struct{}

func (slowBackend) Kind() string { return "venv" }

func (slowBackend) Compile(context.Context, solver.Runner, *solver.Lock, string, io.Writer) error {
	return nil
}

func (slowBackend) Create(_ context.Context, _ solver.Runner, _ *solver.Lock, prefix string, _ io.Writer) error {
	if err := os.MkdirAll(filepath.Join(prefix, "bin"), 0o755); err != nil {
		return err
	}
	time.Sleep(20 * time.Millisecond) // widen the race window; correctness does not depend on it
	return os.WriteFile(filepath.Join(prefix, "bin", "tool"), []byte("#!/bin/sh\n"), 0o755)
}
