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
// table, and nothing is staged in the user's stage dir. After the job the Epilog keeps the
// idle image mounted (mount_keep): the node's next job of the env runs from the same mount
// (the same mount ID), and once the image has been idle for mount_keep, the Epilog of a job
// that never used it unmounts it. A two-node job has the image mounted on both nodes and
// every task runs from it. Then the image is damaged (one byte): the next job's
// Prolog refuses to mount it and the job stages the env from the site cache instead, and
// still runs.
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
echo "mountid=$(awk -v p="$(dirname "$(dirname "$(command -v python)")")" '$5 == p { print $1 }' /proc/self/mountinfo)"
p=$(dirname "$(dirname "$(command -v python)")")
echo "idle=$(test -e "$(dirname "$p")/.senv/$(basename "$p").idle" && echo yes || echo no)"
`)
	plain := f.write(t, "plain.sh", "#!/bin/bash\necho plain\n")
	wide := f.write(t, "wide.sh", `#!/bin/bash
#SBATCH -N2 --ntasks-per-node=1
#ENV pip alpha
#ENV find-links {WHEELS}
#ENV no-index
srun -N2 --ntasks-per-node=1 bash -c 'p=$(dirname "$(dirname "$(command -v python)")"); echo "task host=$(hostname) python=$(command -v python) fs=$(awk -v p="$p" '"'"'$5 == p { for (i = 7; $i != "-"; i++); print $(i+1) }'"'"' /proc/self/mountinfo) $(alpha-hello)"'
`)

	// the admin, as root: build into the site cache, with the image, for mountDir
	rootStage := "/tmp/senv-e2e-mnt-build-" + randomHex(t, 6)
	t.Cleanup(func() { exec.Command("rm", "-rf", rootStage).Run() })
	out := adminBuild(t, c, site, rootStage, []string{"SENV_MOUNT_DIR=" + mountDir}, "--image", script)
	id := oneEnvID(t, "senv build", out)
	t.Cleanup(func() { c.UnmountOnNodes(t, mountDir+"/"+id) })
	image := filepath.Join(site, "v1", "envs", id, "image", "env.sqfs")
	if _, err := os.Stat(image); err != nil || !strings.Contains(out, "for mounting at "+mountDir+"/"+id) {
		t.Fatalf("senv build --image made no image for %s/%s (%v):\n%s", mountDir, id, err, out)
	}

	conf := c.Path("etc", "senv.toml")
	old, err := os.ReadFile(conf)
	must(t, err)
	t.Cleanup(func() { os.WriteFile(conf, old, 0o644) })
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf("cache_dir = %q\nstage_dir = %q\nsite_cache = [%q]\nmount_dir = %q\nmount_keep = \"10m\"\n",
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

	submit := func(name, script string, sbatch ...string) job {
		t.Helper()
		outFile := filepath.Join(f.Dir, name+".out")
		args := append(append([]string{"-D", f.Dir, "-o", outFile}, sbatch...), script)
		j := f.finish(t, c.Submit(t, userEnv, args...), outFile, jobTimeout)
		mustComplete(t, j)
		t.Logf("job %s output:\n%s", j.ID, j.Out)
		return j
	}
	run := func(name string, sbatch ...string) (job, string) {
		t.Helper()
		j := submit(name, script, sbatch...)
		if !hasLine(j.Out, "hello from alpha 1.0") {
			t.Errorf("alpha-hello did not run:\n%s", describe(j))
		}
		host, _ := value(j.Out, "host")
		return j, host
	}

	// 1. mounted by the Prolog, used by the job; the Epilog keeps it mounted for mount_keep
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
	idle := onNode(host, ".senv/"+id+".idle")
	poll(t, fmt.Sprintf("the Epilog of job %s has not dropped its lease on env %s on %s and recorded the image idle", j.ID, id, host), func() bool {
		return !exists(onNode(host, ".senv/"+id+".job."+j.ID)) && exists(idle)
	})
	if !exists(onNode(host, id)) { // the node's mount is in its namespace; the point is seen here
		t.Fatalf("the Epilog unmounted env %s on %s at once, with mount_keep 10m", id, host)
	}
	if !exists(onNode(host, ".senv/"+id+".verified")) {
		t.Errorf("no record on %s that the image's sha256 was checked before the mount", host)
	}

	// 2. the node's next job of the env runs from the kept mount, which its Prolog leased
	// (no longer idle while it runs)
	first, _ := value(j.Out, "mountid")
	j2, host2 := run("kept", "-w", host)
	if got, _ := value(j2.Out, "mountid"); host2 != host || first == "" || got != first {
		t.Errorf("the next job on %s (ran on %s) used mount %q, want the kept mount %q", host, host2, got, first)
	}
	if got, _ := value(j2.Out, "idle"); got != "no" {
		t.Errorf("while job %s ran from the kept mount, its idle record was there (idle=%q): the Prolog did not lease it", j2.ID, got)
	}
	poll(t, fmt.Sprintf("the Epilog of job %s has not recorded env %s idle again", j2.ID, id), func() bool {
		return !exists(onNode(host, ".senv/"+id+".job."+j2.ID)) && exists(idle)
	})

	// 3. idle for longer than mount_keep: a job that never used it has its Epilog unmount it
	then := time.Now().Add(-11 * time.Minute)
	must(t, os.Chtimes(idle, then, then))
	submit("plain", plain, "-w", host)
	poll(t, fmt.Sprintf("the Epilog of a later job on %s has not unmounted env %s, idle for longer than mount_keep", host, id), func() bool {
		return !exists(onNode(host, id)) && !exists(idle)
	})

	// 4. a two-node job: each node's Prolog mounts the image, and every task runs from it;
	// then, idle for longer than mount_keep, a later two-node job's Epilogs unmount both
	j = submit("wide", wide)
	for _, node := range []string{"node1", "node2"} {
		want := "task host=" + node + " python=" + mountDir + "/" + id + "/bin/python fs=squashfs hello from alpha 1.0"
		if !hasLine(j.Out, want) {
			t.Errorf("no line %q: the task on %s did not run from the mounted image", want, node)
		}
		if prefix, _ := f.stagedOn(node, id); exists(prefix) {
			t.Errorf("env %s was staged on %s as well as mounted", id, node)
		}
	}
	for _, node := range []string{"node1", "node2"} {
		idle := onNode(node, ".senv/"+id+".idle")
		poll(t, fmt.Sprintf("the Epilog of job %s on %s has not recorded env %s idle", j.ID, node, id), func() bool {
			return !exists(onNode(node, ".senv/"+id+".job."+j.ID)) && exists(idle)
		})
		must(t, os.Chtimes(idle, then, then))
	}
	submit("plain-wide", plain, "-N2")
	for _, node := range []string{"node1", "node2"} {
		poll(t, fmt.Sprintf("the Epilog of a later job on %s has not unmounted env %s", node, id), func() bool {
			return !exists(onNode(node, id))
		})
	}

	// 5. a damaged image is not mounted: the job stages the env from the site cache
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

// TestMountedCondaImage: the mount mode for a conda env. Root publishes a micromamba env
// whose package has its install prefix compiled into a binary (hello-prefix) with its image;
// a plain `sbatch` job runs from the image the Prolog mounted, and the binary, relocated to
// mount_dir/ID when the image was made, reads its data file there; the package's activation
// script ran with the mount as the prefix. With mount_keep 0 the Epilog unmounts it at once.
func TestMountedCondaImage(t *testing.T) {
	c := Require(t)
	tools, channel := condaTools(t)
	f := newFixture(t, c)
	site := siteDir(t, c, 0)
	mountDir := "/tmp/senv-e2e-mntc-" + randomHex(t, 6)
	script := f.write(t, "conda-mounted.sh", `#!/bin/bash
#ENV conda -c `+channel+` hello-prefix
echo "host=$(hostname)"
echo "bin=$(hello-bin | head -1)"
echo "activated=$HELLO_PREFIX_ACTIVATED"
echo "fs=$(awk -v p="$HELLO_PREFIX_ACTIVATED" '$5 == p { for (i = 7; $i != "-"; i++); print $(i+1) }' /proc/self/mountinfo)"
`)
	rootStage := "/tmp/senv-e2e-mntc-build-" + randomHex(t, 6)
	t.Cleanup(func() { exec.Command("rm", "-rf", rootStage).Run() })
	path := "PATH=" + tools + "/mamba/bin:" + c.Path("bin") + ":/usr/local/bin:/usr/bin:/bin"
	out := adminBuild(t, c, site, rootStage, []string{"SENV_MOUNT_DIR=" + mountDir, path}, "--image", script)
	id := oneEnvID(t, "senv build", out)
	t.Cleanup(func() { c.UnmountOnNodes(t, mountDir+"/"+id) })
	if !strings.Contains(out, "for mounting at "+mountDir+"/"+id) {
		t.Fatalf("senv build --image made no image of the conda env for %s/%s:\n%s", mountDir, id, out)
	}

	conf := c.Path("etc", "senv.toml")
	old, err := os.ReadFile(conf)
	must(t, err)
	t.Cleanup(func() { os.WriteFile(conf, old, 0o644) })
	// the Prolog's user half finds micromamba from the config, as a site sets it (its PATH is
	// slurmd's, not the job's)
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf("cache_dir = %q\nstage_dir = %q\nsite_cache = [%q]\nmount_dir = %q\nmount_keep = \"0s\"\nmicromamba = %q\n",
		f.Cache, f.Stage, site, mountDir, tools+"/mamba/bin/micromamba")), 0o644))
	c.HooksOn(t)
	t.Cleanup(func() {
		if d := c.Drained(t); len(d) != 0 {
			t.Errorf("nodes drained: %v; resuming them", d)
			c.Resume(t)
		}
	})
	outFile := filepath.Join(f.Dir, "conda-mounted.out")
	j := f.finish(t, c.Submit(t, []string{"SENV_CONFIG=" + conf, path}, "-D", f.Dir, "-o", outFile, script), outFile, jobTimeout)
	mustComplete(t, j)
	prefix := mountDir + "/" + id
	for k, want := range map[string]string{"bin": "binary reads " + prefix + "/share/hello/data.txt", "activated": prefix, "fs": "squashfs"} {
		if got, _ := value(j.Out, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	host, _ := value(j.Out, "host")
	if staged, _ := f.stagedOn(host, id); exists(staged) {
		t.Errorf("conda env %s was staged on %s as well as mounted", id, host)
	}
	point := filepath.Join(f.nodeTmp(host), strings.TrimPrefix(prefix, "/tmp/"))
	poll(t, fmt.Sprintf("with mount_keep 0, the Epilog of job %s has not unmounted env %s on %s", j.ID, id, host), func() bool {
		return !exists(point)
	})
	if t.Failed() {
		t.Logf("senv build:\n%s\n%s", out, describe(j))
	}
}

// poll waits until cond holds (polling, with a deadline of 30 s), or fails
// naming what did not happen.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
