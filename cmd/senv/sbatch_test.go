package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSbatchSubmitsBeforePack_FakeSbatch: with build_at = submit, senv
// sbatch submits the job once the env is installed and packs it while the
// job is queued, so the pack does not add to the wait at submit; a job that
// starts first waits for the pack (envs.TestInstalledBeforePublish). A fake
// sbatch (Slurm's real one is in the e2e tests) records whether the cache
// held the entry when it was called, and which env the script pins.
func TestSbatchSubmitsBeforePack_FakeSbatch(t *testing.T) {
	tmp, wh := uvWheelhouse(t)
	envsDir := filepath.Join(os.Getenv("XDG_CACHE_HOME"), "senv", "v1", "envs")
	record := filepath.Join(tmp, "sbatch.log")
	bin := filepath.Join(tmp, "bin")
	os.Mkdir(bin, 0o755)
	// the rendered script is the first argument that is a file
	fake := `#!/bin/sh
for a; do [ -f "$a" ] && script=$a && break; done
n=$(ls "$ENVS" 2>/dev/null | wc -l)
echo "entries=$n pins=$(grep -o -- '--env-id [0-9a-f]*' "$script" | head -1)" >> "$RECORD"
[ -n "$FAIL" ] && { echo "sbatch: error: Batch job submission failed" >&2; exit 1; }
echo 4242
`
	if err := os.WriteFile(filepath.Join(bin, "sbatch"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	t.Setenv("ENVS", envsDir)
	t.Setenv("RECORD", record)
	entries := func() []string {
		names, _ := filepath.Glob(filepath.Join(envsDir, "*"))
		return names
	}
	lastRecord := func() string {
		data, _ := os.ReadFile(record)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		return lines[len(lines)-1]
	}
	sbatch := func(pip string, opts ...string) result {
		args := append([]string{"sbatch", "--manager", "uv", "--find-links", wh, "--no-index", "--pip", pip, "--parsable"}, opts...)
		return senv(t, append(args, "--wrap", "alpha-hello")...)
	}

	// a build: submitted between the install and the pack
	r := sbatch("alpha")
	if r.code != 0 || strings.TrimSpace(string(r.stdout)) != "4242" {
		t.Fatalf("senv sbatch: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if len(entries()) != 1 {
		t.Fatalf("cache entries after senv sbatch: %q, want the one it built", entries())
	}
	id := filepath.Base(entries()[0])
	if got, want := lastRecord(), "entries=0 pins=--env-id "+id; got != want {
		t.Errorf("at submit: %q, want %q (submitted before the env was published, pinning it)", got, want)
	}
	if !strings.Contains(string(r.stderr), "job submitted; compiling and packing the env for it now") {
		t.Errorf("senv sbatch did not say it packs after submitting:\n%s", r.stderr)
	}
	// a cache hit: nothing to pack, submitted after
	if r := sbatch("alpha"); r.code != 0 {
		t.Fatalf("senv sbatch again: exit %d\n%s", r.code, r.stderr)
	}
	if got, want := lastRecord(), "entries=1 pins=--env-id "+id; got != want {
		t.Errorf("at the second submit: %q, want %q", got, want)
	}
	// --wait: sbatch returns when the job ends, which would wait for the
	// pack; so the pack comes first
	if r := sbatch("gamma", "--wait"); r.code != 0 {
		t.Fatalf("senv sbatch --wait: exit %d\n%s", r.code, r.stderr)
	}
	if got := lastRecord(); !strings.HasPrefix(got, "entries=2 ") {
		t.Errorf("at submit with --wait: %q, want the env published first (entries=2)", got)
	}
	// sbatch refuses: its status, and the env is published all the same
	t.Setenv("FAIL", "1")
	if r := sbatch("beta"); r.code != 1 || !strings.Contains(string(r.stderr), "Batch job submission failed") {
		t.Errorf("senv sbatch with sbatch failing: exit %d, want 1 and sbatch's error\n%s", r.code, r.stderr)
	}
	if len(entries()) != 3 {
		t.Errorf("after a refused submit: entries %q, want beta's env published too", entries())
	}
	// the rendered script goes to TMPDIR, and sbatch runs it as the user:
	// a TMPDIR others can rename entries of is refused (here a cache hit, so
	// the script is all senv would write there)
	t.Setenv("FAIL", "")
	bad := filepath.Join(tmp, "shared-tmp")
	os.Mkdir(bad, 0o700)
	if err := os.Chmod(bad, 0o777); err != nil { // writable by all, not sticky
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", bad)
	before := lastRecord()
	if r := sbatch("alpha"); r.code == 0 || !strings.Contains(string(r.stderr), "hint: set TMPDIR") {
		t.Errorf("senv sbatch with TMPDIR %s (mode 0777): exit %d, want a refusal with the hint\n%s", bad, r.code, r.stderr)
	}
	if left, _ := os.ReadDir(bad); len(left) != 0 || lastRecord() != before {
		t.Errorf("wrote %v into the untrusted TMPDIR, or submitted (%q)", left, lastRecord())
	}
}

// TestSbatchHelp: senv sbatch parses its own command line (sbatch's and
// senv's flags), so --help and -h must be seen there: before, both said
// "needs a SCRIPT" and exited 2.
func TestSbatchHelp(t *testing.T) {
	hermetic(t)
	for _, flag := range []string{"--help", "-h"} {
		r := senv(t, "sbatch", flag)
		if r.code != 0 || !strings.Contains(string(r.stdout), "senv sbatch - validate, lock and build") {
			t.Errorf("senv sbatch %s: exit %d, stdout %q, stderr %q; want the help, exit 0", flag, r.code, r.stdout, r.stderr)
		}
	}
}
