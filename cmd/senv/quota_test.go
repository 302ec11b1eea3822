package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/solver"
)

// quotaCache publishes envs of 256 KiB of incompressible data each, last
// used a day apart in the order given (the first is the oldest), into a
// hermetic cache, and returns it with this node's stage.
func quotaCache(t *testing.T, ids ...string) (envs.Cache, envs.Stage) {
	t.Helper()
	hermetic(t)
	dir := t.TempDir()
	t.Setenv("SENV_CACHE_DIR", filepath.Join(dir, "cache"))
	t.Setenv("SENV_STAGE_DIR", filepath.Join(dir, "stage"))
	c, err := envs.OpenCache(filepath.Join(dir, "cache"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := envs.OpenStage(filepath.Join(dir, "stage"), nil)
	if err != nil {
		t.Fatal(err)
	}
	lock := &solver.Lock{Version: solver.LockVersion, SpecKey: "k", Manager: "venv", Tool: "pip 23", Platform: "p"}
	for i, id := range ids {
		env := filepath.Join(dir, "env-"+id)
		data := make([]byte, 256<<10)
		rand.Read(data)
		os.MkdirAll(filepath.Join(env, "bin"), 0o755)
		os.WriteFile(filepath.Join(env, "bin", "python"), []byte("#!/bin/sh\n"), 0o755)
		os.WriteFile(filepath.Join(env, "data"), data, 0o644)
		if _, err := c.Publish(&envs.Meta{ID: id, Manager: "venv"}, lock, env); err != nil {
			t.Fatal(err)
		}
		c.Touch(id)
		used := time.Now().Add(-time.Duration(len(ids)-i) * 24 * time.Hour)
		if err := os.Chtimes(filepath.Join(c.Entry(id), "last-used"), used, used); err != nil {
			t.Fatal(err)
		}
	}
	return c, s
}

func usage(t *testing.T, path string) envs.Usage {
	t.Helper()
	u, err := envs.DiskUsage(path)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestGCMaxSize: under a size cap, gc removes the least recently used
// envs until the cache fits, except one leased on this node, which
// survives although it is the oldest; it reports what it removed and kept;
// --dry-run prints the same plan and removes nothing.
func TestGCMaxSize(t *testing.T) {
	a, b, c4, d := "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "cccccccccccccccc", "dddddddddddddddd"
	cache, stage := quotaCache(t, a, b, c4, d) // a oldest, d newest
	if _, err := stage.FromCache(cache, a, nil, nil); err != nil {
		t.Fatal(err)
	}
	lease, err := stage.Lease(a) // a job on this node runs from a
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Close()
	total := usage(t, cache.Root)
	// one byte too many after b goes: c must go too, d stays
	capBytes := total.Bytes - usage(t, cache.Entry(b)).Bytes - 1
	capArg := fmt.Sprint(capBytes)

	dry := senv(t, "gc", "--max-size", capArg, "--dry-run")
	if dry.code != 0 {
		t.Fatalf("gc --dry-run: exit %d\n%s", dry.code, dry.stderr)
	}
	for _, want := range []string{"would remove cache entry " + b, "would remove cache entry " + c4} {
		if !strings.Contains(string(dry.stdout), want) {
			t.Errorf("gc --dry-run stdout lacks %q:\n%s", want, dry.stdout)
		}
	}
	if strings.Contains(string(dry.stdout), d) || strings.Contains(string(dry.stdout), a) {
		t.Errorf("gc --dry-run would remove more than b and c:\n%s", dry.stdout)
	}
	for _, id := range []string{a, b, c4, d} {
		if !cache.Has(id) {
			t.Fatalf("gc --dry-run removed %s", id)
		}
	}

	r := senv(t, "gc", "--max-size", capArg)
	if r.code != 0 {
		t.Fatalf("gc: exit %d\n%s", r.code, r.stderr)
	}
	want := map[string]bool{a: true, b: false, c4: false, d: true}
	for id, kept := range want {
		if cache.Has(id) != kept {
			t.Errorf("after gc --max-size: %s in cache %v, want %v\n%s", id, cache.Has(id), kept, r.stderr)
		}
	}
	if !stage.Ready(a) {
		t.Errorf("the leased env's staged copy is gone")
	}
	for _, line := range []string{"removed cache entry " + b, "removed cache entry " + c4, "kept env " + a, "2 env(s) removed, 1 kept in use"} {
		if !strings.Contains(string(r.stderr), line) {
			t.Errorf("gc report lacks %q:\n%s", line, r.stderr)
		}
	}
	if after := usage(t, cache.Root); after.Bytes > capBytes {
		t.Errorf("cache takes %d bytes after gc, over the cap %d", after.Bytes, capBytes)
	}
}

// TestGCQuotaFlags: sizes and counts are parsed as documented, and a bad
// one is a usage error (exit 2) naming the flag.
func TestGCQuotaFlags(t *testing.T) {
	sizes := []struct {
		in   string
		want int64
	}{
		{"50G", 50 << 30}, {"500M", 500 << 20}, {"1.5T", 3 << 39}, {"4096", 4096}, {"2GiB", 2 << 30}, {"10kb", 10 << 10},
		{"", 0}, {"-1G", 0}, {"G", 0}, {"12X", 0},
	}
	for _, tc := range sizes {
		got, err := config.ParseSize(tc.in)
		if (err != nil) != (tc.want == 0) || got != tc.want {
			t.Errorf("config.ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	counts := []struct {
		in   string
		want int64
	}{{"200000", 200000}, {"200k", 200000}, {"1.5M", 1500000}, {"0", 0}, {"many", 0}}
	for _, tc := range counts {
		got, err := parseCount(tc.in)
		if (err != nil) != (tc.want == 0) || got != tc.want {
			t.Errorf("parseCount(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	hermetic(t)
	for _, args := range [][]string{{"gc", "--max-size", "lots"}, {"gc", "--max-inodes", "-5"}} {
		r := senv(t, args...)
		if r.code != exitUsage || !strings.Contains(string(r.stderr), args[1]) {
			t.Errorf("senv %s: exit %d, %s; want exit 2 naming %s", strings.Join(args, " "), r.code, r.stderr, args[1])
		}
	}
}

// TestLsTotals: senv ls ends with the totals of the cache and the stage
// dir, and --totals --json gives the same numbers as a walk of each dir.
func TestLsTotals(t *testing.T) {
	a, b := "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"
	cache, stage := quotaCache(t, a, b)
	if _, err := stage.FromCache(cache, a, nil, nil); err != nil {
		t.Fatal(err)
	}
	r := senv(t, "ls", "--totals", "--json")
	if r.code != 0 {
		t.Fatalf("ls --totals --json: exit %d\n%s", r.code, r.stderr)
	}
	var got []total
	if err := json.Unmarshal(r.stdout, &got); err != nil {
		t.Fatalf("ls --totals --json: %v\n%s", err, r.stdout)
	}
	want := []total{
		{Kind: "cache", Dir: filepath.Dir(cache.Root), Envs: 2, Usage: usage(t, cache.Root)},
		{Kind: "stage", Dir: stage.Dir, Envs: 1, Usage: usage(t, stage.Dir)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("totals:\n%+v\nwant:\n%+v", got, want)
	}
	if want[0].Bytes < 2*256<<10 || want[1].Inodes < 4 {
		t.Errorf("totals too small to be the envs: %+v", want)
	}
	human := senv(t, "ls")
	lines := strings.Split(strings.TrimSpace(string(human.stdout)), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(lines[len(lines)-3], "TOTAL") || !strings.HasPrefix(last, "stage ") ||
		!strings.Contains(last, fmt.Sprint(want[1].Inodes)) || !strings.Contains(last, size(want[1].Bytes)) {
		t.Errorf("senv ls does not end with the totals:\n%s", human.stdout)
	}
	var rows []lsEntry
	if err := json.Unmarshal(senv(t, "ls", "--json").stdout, &rows); err != nil || len(rows) != 2 || rows[0].Disk == nil ||
		*rows[0].Disk != usage(t, cache.Entry(rows[0].ID)) {
		t.Errorf("ls --json: rows %+v, %v; want 2 envs, each with its disk usage", rows, err)
	}
}
