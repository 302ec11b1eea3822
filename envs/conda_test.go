package envs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/solver"
)

func TestCondaCreateArgs(t *testing.T) {
	tests := []struct{ bin, want string }{
		{"conda", "conda create --yes --quiet --prefix /stage/3f9a --file /stage/3f9a.explicit.txt"},
		{"mamba", "mamba create --yes --quiet --prefix /stage/3f9a --file /stage/3f9a.explicit.txt"},
		{"/opt/bin/micromamba", "/opt/bin/micromamba create --yes --quiet --prefix /stage/3f9a --file /stage/3f9a.explicit.txt"},
	}
	for _, tc := range tests {
		if got := strings.Join(solver.CondaCreateArgs(tc.bin, "/stage/3f9a", "/stage/3f9a.explicit.txt"), " "); got != tc.want {
			t.Errorf("args %q, want %q", got, tc.want)
		}
	}
}

func TestCondaBackendFor(t *testing.T) {
	cfg := &config.Config{Conda: "/c/conda", Mamba: "/m/mamba", Micromamba: "/u/micromamba"}
	for manager, bin := range map[string]string{"conda": "/c/conda", "mamba": "/m/mamba", "micromamba": "/u/micromamba"} {
		b, err := BackendFor(manager, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if b.Kind() != "conda" {
			t.Errorf("%s: kind %q, want conda", manager, b.Kind())
		}
		if got := b.(condaBackend).bin; got != bin {
			t.Errorf("%s: binary %q, want %q", manager, got, bin)
		}
	}
}

// TestCondaCreateWithFakeBinary runs Create against a shell script that
// records its arguments, its package cache and the explicit file, and fails
// on request: a real tool cannot be made to fail on cue (the real builds
// are TestCondaBackendConformance).
func TestCondaCreateWithFakeBinary(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "micromamba")
	script := `#!/bin/sh
printf '%s\n' "$@" > "$FAKE_ARGS"
while [ $# -gt 0 ]; do
  if [ "$1" = --file ]; then cp "$2" "$FAKE_FILE"; fi
  shift
done
echo "Transaction finished"
exit "${FAKE_EXIT:-0}"
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	explicit := "@EXPLICIT\nhttps://conda.anaconda.org/conda-forge/linux-64/libzlib-1.3.2-h25fd6f3_2.conda#d87ff7921124eccd67248aa483c23fec\n"
	b := newCondaBackend("micromamba", &config.Config{Micromamba: fake})
	prefix := filepath.Join(dir, "stage", "3f9a")
	if err := os.MkdirAll(filepath.Dir(prefix), 0o755); err != nil {
		t.Fatal(err)
	}
	r := solver.Runner{Env: []string{"FAKE_ARGS=" + filepath.Join(dir, "args"), "FAKE_FILE=" + filepath.Join(dir, "file")}}
	var log bytes.Buffer
	if err := b.Create(context.Background(), r, &solver.Lock{Explicit: explicit}, prefix, &log); err != nil {
		t.Fatal(err)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	file := prefix + ".explicit.txt"
	if want := solver.CondaCreateArgs(fake, prefix, file)[1:]; !reflect.DeepEqual(strings.Fields(string(args)), want) {
		t.Errorf("args %q, want %q", args, want)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "file")); string(got) != explicit {
		t.Errorf("explicit file %q, want %q", got, explicit)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("explicit file left behind: %v", err)
	}
	if !strings.Contains(log.String(), "Transaction finished") {
		t.Errorf("tool output not logged: %q", log.String())
	}

	r.Env = append(r.Env, "FAKE_EXIT=1")
	err := b.Create(context.Background(), r, &solver.Lock{Explicit: explicit}, prefix, &log)
	if err == nil || !strings.Contains(err.Error(), "failed to create micromamba env") {
		t.Errorf("failing tool: error %v", err)
	}
	err = b.Create(context.Background(), r, &solver.Lock{}, prefix, &log)
	if err == nil || !strings.Contains(err.Error(), "no @EXPLICIT package list") {
		t.Errorf("lock without explicit list: error %v", err)
	}
}
