package envs_test

import (
	"os"
	"strings"
	"testing"
)

// TestMain keeps the machine's pip configuration (PIP_* variables,
// pip.conf) away from the real pip and uv these tests run: they resolve
// from their own wheelhouses, and a test of pip's configuration sets its
// own.
func TestMain(m *testing.M) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PIP_") {
			os.Unsetenv(k)
		}
	}
	os.Setenv("PIP_CONFIG_FILE", os.DevNull)
	os.Exit(m.Run())
}
