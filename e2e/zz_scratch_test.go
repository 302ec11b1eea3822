//go:build e2e

package e2e

import (
	"testing"

	"github.com/senv-hpc/senv/internal/wheelhouse"
)

func TestZZScratchWheels(t *testing.T) {
	if _, err := wheelhouse.BuildAll("/opt/senv-testbed/work/manual/wheels", wheelhouse.Standard); err != nil {
		t.Fatal(err)
	}
}
