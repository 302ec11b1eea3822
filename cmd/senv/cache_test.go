package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/solver"
)

// TestDamagedEntryCommands: an entry whose meta.json is corrupt shows in
// ls as DAMAGED with the senv rm hint, and senv rm removes it.
func TestDamagedEntryCommands(t *testing.T) {
	hermetic(t)
	dir := t.TempDir()
	t.Setenv("SENV_CACHE_DIR", filepath.Join(dir, "cache"))
	t.Setenv("SENV_STAGE_DIR", filepath.Join(dir, "stage"))
	c, err := envs.OpenCache(filepath.Join(dir, "cache"), nil)
	if err != nil {
		t.Fatal(err)
	}
	env := filepath.Join(dir, "env")
	os.MkdirAll(filepath.Join(env, "bin"), 0o755)
	os.WriteFile(filepath.Join(env, "bin", "python"), []byte("#!/bin/sh\n"), 0o755)
	id := "0123456789abcdef"
	lock := &solver.Lock{Version: solver.LockVersion, SpecKey: "k", Manager: "venv", Tool: "pip 23", Platform: "p"}
	if _, err := c.Publish(&envs.Meta{ID: id, Manager: "venv"}, lock, env); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(c.Entry(id), "meta.json"), []byte("{trunc"), 0o644)
	cases := []struct {
		args []string
		code int
		want string // in stdout+stderr
	}{
		{[]string{"ls"}, exitOK, id + "  -"},
		{[]string{"ls"}, exitOK, "DAMAGED (remove it with senv rm " + id + ")"},
		{[]string{"ls", "--json"}, exitOK, `"damaged": "failed to parse`},
		{[]string{"gc", "--dry-run", "--older-than", "0"}, exitOK, "would remove damaged cache entry " + id},
		{[]string{"rm", id}, exitOK, "removed env " + id},
		{[]string{"ls"}, exitOK, ""},
	}
	for _, tc := range cases {
		r := senv(t, tc.args...)
		out := string(r.stdout) + string(r.stderr)
		if r.code != tc.code || !strings.Contains(out, tc.want) || (tc.want == "" && strings.Contains(out, id)) {
			t.Errorf("senv %s: exit %d\n%s\nwant exit %d and %q", strings.Join(tc.args, " "), r.code, out, tc.code, tc.want)
		}
	}
}
