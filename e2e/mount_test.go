//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMountedImage is issue 13's mount staging mode on the cluster. Root publishes an env
// with its squashfs image (`senv build --image`) into a root-owned site cache; with the
// hooks on, a plain `sbatch` job whose #ENV lines ask for that env runs it from the image,
// which the root Prolog checked and mounted at mount_dir/ID on the job's node: python and
// the console script come from the mount, which is a read-only squashfs in the job's mount
// table, and nothing is staged in the user's stage dir. After the job the Epilog unmounts
// it. Then the image is damaged (one byte): the next job's Prolog refuses to mount it and
// the job stages the env from the site cache instead, and still runs.
func TestMountedImage(t *testing.T) {
	c := Require(t)
	f := newFixture(t, c)
	site := siteDir(t, c, 0)
	// mount_dir in /tmp: each node has its own (the testbed's nodes share /run)
	mountDir := "/tmp/senv-e2e-mnt-" + randomHex(t, 6)
	script := f.write(t, "mounted.sh", `#!/bin/bash
#ENV pip alpha
#ENV find-links {WHEELS}
#ENV no-index
echo "host=$(hostname)"
echo "python=$(command -v python)"
alpha-hello
echo "mount=$(awk -v p="$(dirname "$(dirname "$(command -v python)")")" '$5 == p { for (i = 7; $i != "-"; i++); print $(i+1), $6 }' /proc/self/mountinfo)"
`)

	// the admin, as root: build into the site cache, with the image, for mountDir
	rootStage := "/tmp/senv-e2e-mnt-build-" + randomHex(t, 6)
	t.Cleanup(func() { exec.Command("rm", "-rf", rootStage).Run() })
	out := adminBuild(t, c, site, rootStage, []string{"SENV_MOUNT_DIR=" + mountDir}, "--image", script)
	id := oneEnvID(t, "senv build", out)
	image := filepath.Join(site, "v1", "envs", id, "image", "env.sqfs")
	if _, err := os.Stat(image); err != nil || !strings.Contains(out, "for mounting at "+mountDir+"/"+id) {
		t.Fatalf("senv build --image made no image for %s/%s (%v):\n%s", mountDir, id, err, out)
	}

	conf := c.Path("etc", "senv.toml")
	old, err := os.ReadFile(conf)
	must(t, err)
	t.Cleanup(func() { os.WriteFile(conf, old, 0o644) })
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf("cache_dir = %q\nstage_dir = %q\nsite_cache = [%q]\nmount_dir = %q\n",
		f.Cache, f.Stage, site, mountDir)), 0o644))
	c.HooksOn(t)
	t.Cleanup(func() {
		if d := c.Drained(t); len(d) != 0 {
			t.Errorf("nodes drained: %v; resuming them", d)
			c.Resume(t)
		}
	})
	userEnv := []string{"SENV_CONFIG=" + conf}
	onNode := func(node, rel string) string {
		return filepath.Join(f.nodeTmp(node), strings.TrimPrefix(mountDir, "/tmp/"), rel)
	}

	run := func(name string) (job, string) {
		t.Helper()
		outFile := filepath.Join(f.Dir, name+".out")
		j := f.finish(t, c.Submit(t, userEnv, "-D", f.Dir, "-o", outFile, script), outFile, jobTimeout)
		mustComplete(t, j)
		t.Logf("job %s output:\n%s", j.ID, j.Out)
		if !hasLine(j.Out, "hello from alpha 1.0") {
			t.Errorf("alpha-hello did not run:\n%s", describe(j))
		}
		host, _ := value(j.Out, "host")
		return j, host
	}

	// 1. mounted by the Prolog, used by the job, unmounted by the Epilog
	j, host := run("mounted")
	if got, _ := value(j.Out, "python"); got != mountDir+"/"+id+"/bin/python" {
		t.Errorf("python = %q, want the mounted image's %s/%s/bin/python", got, mountDir, id)
	}
	if got, _ := value(j.Out, "mount"); !strings.HasPrefix(got, "squashfs ro,nosuid,nodev") {
		t.Errorf("the job's mount table has %q at the env's prefix, want a squashfs mounted ro,nosuid,nodev", got)
	}
	if prefix, _ := f.stagedOn(host, id); exists(prefix) {
		t.Errorf("env %s was staged on %s as well as mounted", id, host)
	}
	deadline := time.Now().Add(30 * time.Second)
	for exists(onNode(host, id)) || exists(onNode(host, ".senv/"+id+".job."+j.ID)) {
		if time.Now().After(deadline) {
			t.Fatalf("30 s after job %s, the Epilog has not unmounted env %s on %s (mount point or lease left)", j.ID, id, host)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !exists(onNode(host, ".senv/"+id+".verified")) {
		t.Errorf("no record on %s that the image's sha256 was checked before the mount", host)
	}

	// 2. a damaged image is not mounted: the job stages the env from the site cache
	fh, err := os.OpenFile(image, os.O_RDWR, 0)
	must(t, err)
	b := make([]byte, 1)
	_, err = fh.ReadAt(b, 700)
	must(t, err)
	b[0] ^= 0xff
	_, err = fh.WriteAt(b, 700)
	must(t, err)
	must(t, fh.Close())
	j, host = run("damaged")
	if got, _ := value(j.Out, "python"); got != f.Stage+"/"+id+"/bin/python" {
		t.Errorf("with a damaged image, python = %q, want the staged env's %s/%s/bin/python", got, f.Stage, id)
	}
	if got, _ := value(j.Out, "mount"); got != "" {
		t.Errorf("with a damaged image, the env's prefix is a mount (%q)", got)
	}
	if exists(onNode(host, ".senv/"+id+".job."+j.ID)) {
		t.Errorf("the refused mount left job %s's lease on %s", j.ID, host)
	}
}
