package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/jobspec"
)

// TestEnvFlagsEveryKey: every #ENV key has a flag, and the flag gives the
// env the #ENV line gives, values with commas and spaces intact (urfave/cli
// would split a slice flag's value at its commas: `--pip 'numpy>=1,<2'`).
// Both forms go through the real command line (`senv check --json`).
func TestEnvFlagsEveryKey(t *testing.T) {
	hermetic(t)
	dir := t.TempDir()
	for _, f := range []string{"req.txt", "environment.yml"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("six\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "environment.yml"), []byte("dependencies:\n  - python=3.11\n"), 0o644)
	values := map[string][]string{ // a value check accepts, where the key takes one
		"module": {"cuda/12.1", "gcc/13"}, "python": {">=3.10,<3.13"}, "pip": {"numpy>=1,<2", "six"},
		"requirements": {"req.txt"}, "conda": {"numpy>=1,<2"}, "channel": {"conda-forge"}, "file": {"environment.yml"},
		"extra": {"gpu"}, "group": {"dev"}, "manager": {"venv"}, "solver": {"classic"}, "index-url": {"https://example.org/simple"},
		"extra-index-url": {"https://example.org/a", "https://example.org/b"}, "find-links": {"wheels"},
		"use": {"conda:base"}, "setenv": {"A=1,2", "B=x y"}, "stage": {"none"}, "name": {"demo"},
	}
	envOf := func(args ...string) (jobspec.Env, int) {
		r := senv(t, append([]string{"check", "--json"}, args...)...)
		var parsed []jobspec.Script
		if err := json.Unmarshal(r.stdout, &parsed); err != nil || len(parsed) != 1 {
			t.Fatalf("senv check --json %s: %v, exit %d\n%s%s", strings.Join(args, " "), err, r.code, r.stdout, r.stderr)
		}
		return parsed[0].Env, r.code
	}
	for _, k := range jobspec.Keys {
		t.Run(k.Name, func(t *testing.T) {
			vals, ok := values[k.Name]
			if !ok && k.Max != 0 {
				t.Fatalf("no test value for key %s", k.Name)
			}
			line := "#ENV " + k.Name
			var flags []string
			if k.Max == 0 {
				flags = []string{"--" + k.Name}
			}
			for _, v := range vals {
				line += " '" + v + "'"
				flags = append(flags, "--"+k.Name, v)
			}
			withLine := filepath.Join(dir, k.Name+".sh")
			bare := filepath.Join(dir, "bare.sh")
			os.WriteFile(withLine, []byte("#!/bin/bash\n"+line+"\necho hi\n"), 0o644)
			os.WriteFile(bare, []byte("#!/bin/bash\necho hi\n"), 0o644)
			fromLine, lineCode := envOf(withLine)
			fromFlags, flagCode := envOf(append(flags, bare)...)
			if !reflect.DeepEqual(fromLine, fromFlags) || lineCode != flagCode {
				t.Errorf("%s (exit %d) gives\n%+v\n%v (exit %d) gives\n%+v", line, lineCode, fromLine, flags, flagCode, fromFlags)
			}
			if reflect.DeepEqual(fromFlags, jobspec.Env{}) {
				t.Errorf("%v set nothing in the env", flags)
			}
		})
	}
}
