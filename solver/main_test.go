package solver

import (
	"os"
	"testing"

	"github.com/senv-hpc/senv/internal/wheelhouse"
)

// TestMain keeps the machine's pip configuration away from these tests'
// real pip and uv (see wheelhouse.IsolatePip).
func TestMain(m *testing.M) {
	wheelhouse.IsolatePip()
	os.Exit(m.Run())
}
