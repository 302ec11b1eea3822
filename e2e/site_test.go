//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// UseProfile restarts the testbed with start.sh's SENV_TESTBED_PROFILE=profile ("site":
// job_container/tmpfs, cli_filter/lua, a per-job SLURM_TMPDIR) and, at cleanup, restarts it
// with the default profile, so that the tests after it find the cluster as .ci/run starts it.
// A restart cancels every job and empties the nodes' /tmp and scratch. Callers must hold the
// testbed (flock /work/testbed.lock, when it is shared).
func (c *Cluster) UseProfile(t *testing.T, profile string) *Cluster {
	t.Helper()
	start := func(p string) error {
		cmd := exec.Command("bash", filepath.Join("testbed", "start.sh"))
		cmd.Env = append(os.Environ(), "SENV_TESTBED="+c.Root, "SENV_TESTBED_PROFILE="+p)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("start.sh (%s profile): %v\n%s", p, err, out)
		}
		return nil
	}
	t.Cleanup(func() {
		if err := start("default"); err != nil {
			t.Error(err)
		}
	})
	if err := start(profile); err != nil {
		t.Fatal(err)
	}
	return Require(t)
}

// nodeScratch is node's local scratch, seen from the host: mounted on $TB/scratch there.
func (f *fixture) nodeScratch(node string) string {
	return f.c.Path("cluster", "nodes", node, "scratch")
}

// TestSiteProfile runs jobs on the testbed's site profile, what big sites run:
// job_container/tmpfs gives every job a private /tmp (and /dev/shm), the Prolog makes a
// per-job SLURM_TMPDIR on node-local scratch, and cli_filter/lua runs contrib's filter on
// every plain sbatch (issue 12 items 4 and 6).
func TestSiteProfile(t *testing.T) {
	c := Require(t).UseProfile(t, "site")
	f := newFixture(t, c)
	conf := c.Path("etc", "senv.toml")
	old, err := os.ReadFile(conf)
	must(t, err)
	t.Cleanup(func() { os.WriteFile(conf, old, 0o644) })

	t.Run("CliFilter", func(t *testing.T) { testCliFilter(t, f) })
	t.Run("PrivateTmp", func(t *testing.T) { testPrivateTmp(t, f, conf) })
	t.Run("ScratchPrestage", func(t *testing.T) { testScratchPrestage(t, f, conf) })
	t.Run("SlurmTmpdir", func(t *testing.T) { testSlurmTmpdir(t, f, conf) })
	if d := c.Drained(t); len(d) != 0 {
		t.Errorf("nodes drained: %v", d)
	}
}

const siteScript = `#!/bin/bash
#SBATCH -N2 --ntasks-per-node=1
#ENV pip alpha
#ENV find-links {WHEELS}
#ENV no-index
echo "python=$(command -v python)"
echo "tmp=$(ls -A /tmp | tr '\n' ' ')"
echo "SLURM_TMPDIR=$SLURM_TMPDIR"
echo "staged_at=$(stat -c %.6Y "$(dirname "$(dirname "$(command -v python)")")/../.senv/"*.done | head -1)"
srun -N2 --ntasks-per-node=1 python -c 'import alpha, socket; print("task host=%s file=%s" % (socket.gethostname(), alpha.__file__))'
`

// tasksRanFrom checks that the job's two tasks, one per node, imported alpha from prefix.
func tasksRanFrom(t *testing.T, j job, prefix string) {
	t.Helper()
	file := prefix + "/lib/python3.11/site-packages/alpha/__init__.py"
	for _, node := range []string{"node1", "node2"} {
		if want := "task host=" + node + " file=" + file; !hasLine(j.Out, want) {
			t.Errorf("no line %q in the job's output", want)
		}
	}
}

// testPrivateTmp: with job_container/tmpfs and the stage dir in /tmp, a 2-node `senv sbatch`
// job finds its env at the same absolute path on both nodes, staged into the job's own /tmp
// (the node's /tmp never gets it); a second job stages it again from the cache, building
// nothing. Under the hooks the Prolog does not pre-stage into the node's /tmp, which the job
// cannot see, and the TaskProlog stages the env inside the job.
func testPrivateTmp(t *testing.T, f *fixture, conf string) {
	c := f.c
	script := f.write(t, "ptmp.sh", siteScript)
	var envID string
	for i, name := range []string{"first", "second"} {
		out := filepath.Join(f.Dir, "ptmp-"+name+".out")
		id, submitLog := f.sbatch(t, "-D", f.Dir, "-o", out, script)
		j := f.finish(t, id, out, jobTimeout)
		mustComplete(t, j)
		envID = oneEnvID(t, "senv sbatch", submitLog)
		if i == 1 && (strings.Contains(submitLog, phraseBuilding) || strings.Contains(j.Out, phraseBuilding)) {
			t.Errorf("the second job built its env again")
		}
		tasksRanFrom(t, j, f.Stage+"/"+envID)
		if got, _ := value(j.Out, "tmp"); got != strings.TrimPrefix(f.Stage, "/tmp/")+" " {
			t.Errorf("the job's /tmp holds %q, want only the stage dir: /tmp is not private to the job", got)
		}
		if n := strings.Count(j.Out, phraseCacheHit); n != 2 {
			t.Errorf("%d %q lines, want 2: each node stages the env into the job's /tmp", n, phraseCacheHit)
		}
		if n := strings.Count(j.Out, "staged on all 2 nodes"); n != 1 {
			t.Errorf("%d %q lines, want 1: senv's staging step, inside the job's namespace on both nodes", n, "staged on all 2 nodes")
		}
		for _, node := range []string{"node1", "node2"} {
			if _, done := f.stagedOn(node, envID); exists(done) {
				t.Errorf("env %s staged in %s's own /tmp, not the job's", envID, node)
			}
		}
		if t.Failed() {
			t.Logf("%s\nsubmit: %s", describe(j), submitLog)
			return
		}
	}

	// The hooks: the cache has the env, the Prolog runs for the plain sbatch job, and must
	// not stage it where the job cannot see it.
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf("cache_dir = %q\nstage_dir = %q\n", f.Cache, f.Stage)), 0o644))
	c.HooksOn(t)
	out := filepath.Join(f.Dir, "ptmp-hooks.out")
	j := f.finish(t, c.Submit(t, nil, "-D", f.Dir, "-o", out, script), out, jobTimeout)
	mustComplete(t, j)
	tasksRanFrom(t, j, f.Stage+"/"+envID)
	for _, node := range []string{"node1", "node2"} {
		if len(c.hookStarts(t, "prolog", j.ID, node)) != 1 {
			t.Errorf("no senv prolog for job %s on %s", j.ID, node)
		}
		if _, done := f.stagedOn(node, envID); exists(done) {
			t.Errorf("the prolog staged env %s into %s's own /tmp, which the job cannot see", envID, node)
		}
	}
	if t.Failed() {
		t.Logf("%s", describe(j))
	}
}

// testScratchPrestage: with job_container/tmpfs and the stage dir on node-local scratch
// outside /tmp, the Prolog pre-stages the env for a plain sbatch job before its tasks start,
// on both nodes, and the job's tasks run from there.
func testScratchPrestage(t *testing.T, f *fixture, conf string) {
	c := f.c
	rel := "senv-e2e-" + randomHex(t, 4)
	stage := c.Path("scratch", rel)
	t.Cleanup(func() { os.RemoveAll(stage) })
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf("cache_dir = %q\nstage_dir = %q\n", f.Cache, stage)), 0o644))
	c.HooksOn(t)
	script := f.write(t, "scratch.sh", siteScript)
	stdout, stderr, exit := c.AsUser(t, []string{"SENV_CONFIG=" + conf}, "senv", "build", script)
	if exit != 0 {
		t.Fatalf("senv build: exit %d\n%s", exit, stderr)
	}
	envID := strings.TrimSpace(stdout)
	out := filepath.Join(f.Dir, "scratch.out")
	j := f.finish(t, c.Submit(t, nil, "-D", f.Dir, "-o", out, script), out, jobTimeout)
	mustComplete(t, j)
	tasksRanFrom(t, j, stage+"/"+envID)
	for _, node := range []string{"node1", "node2"} {
		done := filepath.Join(f.nodeScratch(node), rel, ".senv", envID+".done")
		st, err := os.Stat(done)
		if err != nil {
			t.Errorf("env %s not staged on %s's scratch: %v", envID, node, err)
			continue
		}
		prolog, task := c.hookStarts(t, "prolog", j.ID, node), c.hookStarts(t, "taskprolog", j.ID, node)
		if len(prolog) != 1 || len(task) == 0 {
			t.Errorf("hooks.log: want one prolog and a taskprolog for job %s on %s, got %v and %v", j.ID, node, prolog, task)
			continue
		}
		if at := st.ModTime(); at.Before(onDay(at, prolog[0])) || !at.Before(onDay(at, task[0])) {
			t.Errorf("env staged on %s at %s, want it staged by the prolog (%s), before the task prolog (%s)",
				node, at.Format("15:04:05.000000"), prolog[0], task[0])
		}
	}
	if t.Failed() {
		t.Logf("%s", describe(j))
	}
}

// testSlurmTmpdir: stage_dir = "$TB/scratch/{user}.{jobid}/senv" stages into the per-job dir
// the site's Prolog makes (the job's SLURM_TMPDIR), the same path on both nodes of a job, and
// the Epilog's removal of the dir takes the env with it. A second job with the same spec
// builds nothing: its Prolog stages the env from the cache into the new job's dir. That
// needs env IDs that do not hold the stage dir (relocatable envs, branch sitecache).
func testSlurmTmpdir(t *testing.T, f *fixture, conf string) {
	c := f.c
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf("cache_dir = %q\nstage_dir = %q\n", f.Cache, c.Path("scratch", "{user}.{jobid}", "senv"))), 0o644))
	c.HooksOn(t)
	script := f.write(t, "tmpdir.sh", siteScript)
	var built []string
	for i, name := range []string{"first", "second"} {
		out := filepath.Join(f.Dir, "tmpdir-"+name+".out")
		j := f.finish(t, c.Submit(t, nil, "-D", f.Dir, "-o", out, script), out, jobTimeout)
		mustComplete(t, j)
		tmpdir, _ := value(j.Out, "SLURM_TMPDIR")
		if want := c.Path("scratch", User+"."+j.ID); tmpdir != want {
			t.Fatalf("SLURM_TMPDIR = %q, want %s (made by the site's Prolog)\n%s", tmpdir, want, describe(j))
		}
		python, _ := value(j.Out, "python")
		envID := strings.TrimSuffix(strings.TrimPrefix(python, tmpdir+"/senv/"), "/bin/python")
		if envID == python || strings.Contains(envID, "/") {
			t.Fatalf("python = %q, want $SLURM_TMPDIR/senv/ID/bin/python\n%s", python, describe(j))
		}
		tasksRanFrom(t, j, tmpdir+"/senv/"+envID)
		envs := cachedEnvs(t, f.Cache)
		if i == 1 && strings.Join(envs, " ") != strings.Join(built, " ") {
			t.Errorf("the second job built an env (cache %v, after the first job %v); it should stage the first "+
				"job's from the cache (needs relocatable envs: branch sitecache)", envs, built)
		}
		built = envs
		if i == 1 { // the env is in the cache: the Prolog stages it into SLURM_TMPDIR
			var at float64
			staged, _ := value(j.Out, "staged_at")
			fmt.Sscanf(staged, "%f", &at)
			when := time.Unix(0, int64(at*1e9))
			batch := c.jobField(t, j.ID, "BatchHost")
			prolog, task := c.hookStarts(t, "prolog", j.ID, batch), c.hookStarts(t, "taskprolog", j.ID, batch)
			if len(prolog) != 1 || len(task) == 0 || when.Before(onDay(when, prolog[0])) || !when.Before(onDay(when, task[0])) {
				t.Errorf("env staged on %s at %q, want it staged by the prolog (%v), before the task prolog (%v) (needs relocatable envs: branch sitecache)",
					batch, staged, prolog, task)
			}
		}
		for _, node := range []string{"node1", "node2"} { // the Epilog removes SLURM_TMPDIR
			dir := filepath.Join(f.nodeScratch(node), User+"."+j.ID)
			if !waitGone(dir) {
				t.Errorf("%s still there after job %s: the epilog did not remove it", dir, j.ID)
			}
		}
		if t.Failed() {
			t.Logf("%s", describe(j))
			return
		}
	}
}

// cachedEnvs lists the env IDs in a cache.
func cachedEnvs(t *testing.T, cache string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(cache, "v1", "envs"))
	must(t, err)
	var ids []string
	for _, e := range ents {
		ids = append(ids, e.Name())
	}
	sort.Strings(ids)
	return ids
}

// waitGone polls until path does not exist (the Epilog runs after the job is reported
// complete), for up to 30 s; it reports whether it went.
func waitGone(path string) bool {
	for deadline := time.Now().Add(30 * time.Second); exists(path); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
