package main

import (
	"strings"
	"testing"
)

// TestEnvIDsValidated: an env ID becomes part of paths, so every command
// that takes one refuses anything but 16 lowercase hex digits, with exit 2,
// before it touches the cache or the stage.
func TestEnvIDsValidated(t *testing.T) {
	hermetic(t)
	cases := []struct {
		name string
		args []string
	}{
		{"stage", []string{"stage", "../../../x"}},
		{"stage --shared", []string{"stage", "--shared", "0123456789abcdef/../../x"}},
		{"activate --env-id", []string{"activate", "--env-id", "../../../x", "--pip", "numpy"}},
		{"rm", []string{"rm", "0123456789abcdef", "../x"}},
		{"uppercase", []string{"stage", "0123456789ABCDEF"}},
		{"too short", []string{"stage", "0123"}},
		{"mount", []string{"mount", "abc"}},
		{"umount", []string{"umount", "../x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := senv(t, tc.args...)
			if r.code != exitUsage || !strings.Contains(string(r.stderr), "is not an env ID (16 lowercase hex digits") {
				t.Errorf("senv %s: exit %d, stderr %q; want exit 2 and a clear message", strings.Join(tc.args, " "), r.code, r.stderr)
			}
		})
	}
}
