//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/internal/treesnap"
)

// siteDir makes a fresh directory under $TB (not /tmp: each node has its own) owned by
// uid, mode 0755, removed at cleanup.
func siteDir(t *testing.T, c *Cluster, uid int) string {
	t.Helper()
	dir := c.Path("site-" + randomHex(t, 6))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, uid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// adminBuild runs `senv build ARGS` as root (the admin publishing into site), with the
// user's PATH (the same base interpreter), umask 022, stage dir stage and extra SENV_*
// settings, and returns its output; it fails the test if the build fails.
func adminBuild(t *testing.T, c *Cluster, site, stage string, extra []string, args ...string) string {
	t.Helper()
	build := exec.Command("sh", append([]string{"-c", `umask 022; exec "$@"`, "sh", c.Path("bin", "senv"), "build"}, args...)...)
	build.Env = append([]string{"HOME=/root", "PATH=" + c.Path("bin") + ":/usr/local/bin:/usr/bin:/bin",
		"SENV_CACHE_DIR=" + site, "SENV_STAGE_DIR=" + stage, "SENV_SITE_CACHE=" + site}, extra...)
	out, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("senv build %s as root: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestSiteCacheRootBuilt is issue 12 item 5's evidence: root builds an env into a root-owned
// 0755 site cache (`senv build` with cache_dir there, from a stage dir longer than users'),
// and a job of the unprivileged user, whose config names it as site_cache, stages that env
// from it, relocated into the user's own stage dir on the node, and runs its console script.
// The job solves nothing and builds nothing, the site dir is unchanged, the user's cache gets
// no env and no lock, and `senv ls` as the user names the site tier.
func TestSiteCacheRootBuilt(t *testing.T) {
	c := Require(t)
	f := newFixture(t, c)
	site := siteDir(t, c, 0)
	spec := []string{"--pip", "alpha", "--find-links", f.Wheels, "--no-index"}

	// the admin, as root, with the user's PATH (the same base interpreter) and umask 022
	rootStage := "/tmp/senv-e2e-site-build-" + randomHex(t, 6)
	t.Cleanup(func() { exec.Command("rm", "-rf", rootStage).Run() })
	out := adminBuild(t, c, site, rootStage, nil, spec...)
	id := oneEnvID(t, "senv build", out)
	if !strings.Contains(out, "env "+id+" building with") {
		t.Fatalf("root did not build env %s:\n%s", id, out)
	}
	before := treesnap.Take(t, site)

	config := f.write(t, "senv.toml", fmt.Sprintf("site_cache = [%q]\n", site))
	script := f.write(t, "site.sh", `#!/bin/bash
set -eu
senv run `+strings.Join(spec, " ")+` -- alpha-hello
senv ls
`)
	outFile := filepath.Join(f.Dir, "site.out")
	jobID := c.Submit(t, f.Env("SENV_CONFIG="+config), "-D", f.Dir, "-o", outFile, script)
	j := f.finish(t, jobID, outFile, jobTimeout)
	mustComplete(t, j)
	t.Logf("job %s output:\n%s", jobID, j.Out)

	for _, want := range []string{
		"senv: env " + id + " site cache hit, staged *",
		"hello from alpha 1.0",
	} {
		if !hasLine(j.Out, want) {
			t.Errorf("job output lacks a line %q:\n%s", want, describe(j))
		}
	}
	for _, want := range []string{"from site " + site, "relocated from " + rootStage + "/" + id} {
		if !strings.Contains(j.Out, want) {
			t.Errorf("job output lacks %q:\n%s", want, describe(j))
		}
	}
	for _, never := range []string{"solved spec", "building with", "published"} {
		if strings.Contains(j.Out, never) {
			t.Errorf("the job %s (%q):\n%s", never, never, describe(j))
		}
	}
	lsRow := false
	for _, line := range strings.Split(j.Out, "\n") {
		if strings.HasPrefix(line, id+" ") && strings.HasSuffix(line, "site "+site) {
			lsRow = true
		}
	}
	if !lsRow {
		t.Errorf("senv ls in the job has no row of %s in tier site %s:\n%s", id, site, describe(j))
	}
	if after := treesnap.Take(t, site); after != before {
		t.Errorf("the job changed the site cache:\nbefore\n%s\nafter\n%s", before, after)
	}
	for _, sub := range []string{"envs", "locks"} {
		if ents, _ := os.ReadDir(filepath.Join(f.Cache, "v1", sub)); len(ents) != 0 {
			t.Errorf("the user's cache %s/ holds %d entries, want none", sub, len(ents))
		}
	}

	// senv ls on the submit host, as the user: the same tier, and the --json fields
	stdout, stderr, exit := f.c.AsUser(t, f.Env("SENV_CONFIG="+config), "senv", "ls", "--json")
	if exit != 0 || !strings.Contains(stdout, `"tier": "site"`) || !strings.Contains(stdout, `"tier_dir": "`+site+`"`) {
		t.Errorf("senv ls --json as %s: exit %d\n%s%s", User, exit, stdout, stderr)
	}
	// rm of a site entry changes nothing there, and says so
	_, stderr, exit = f.c.AsUser(t, f.Env("SENV_CONFIG="+config), "senv", "rm", id)
	if exit != 2 || !strings.Contains(stderr, "only in the site cache "+site+", which senv never changes") {
		t.Errorf("senv rm of a site entry: exit %d, want 2 and why\n%s", exit, stderr)
	}
	if after := treesnap.Take(t, site); after != before {
		t.Errorf("senv rm changed the site cache")
	}
}

// TestSiteCacheUntrustedOwner: a site cache that another, untrusted user owns is refused,
// with the owner and the trusted_owners fix named, before anything is read from it.
func TestSiteCacheUntrustedOwner(t *testing.T) {
	c := Require(t)
	f := newFixture(t, c)
	const nobody = 65534
	site := siteDir(t, c, nobody)
	env := f.Env("SENV_SITE_CACHE=" + site)
	for _, args := range [][]string{
		{"run", "--pip", "alpha", "--find-links", f.Wheels, "--no-index", "--", "true"},
		{"ls"},
	} {
		_, stderr, exit := f.c.AsUser(t, env, "senv", args...)
		t.Logf("senv %s: exit %d\n%s", args[0], exit, stderr)
		want := "refusing " + site + ": it is owned by nobody (uid 65534), whom you do not trust"
		if exit != 1 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "trusted_owners") {
			t.Errorf("senv %s with an untrusted site cache: exit %d, want 1 and %q\n%s", args[0], exit, want, stderr)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(f.Cache, "v1", "envs")); len(ents) != 0 {
		t.Errorf("senv built into the user's cache despite the refusal")
	}
}
