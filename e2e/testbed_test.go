//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestTestbed checks the testbed itself: jobs run as the test user under /bin/sh on the fake
// nodes, each node has its own /tmp, Lmod finds the test modulefiles, exit codes come back,
// and no node is drained afterwards. The jobs run in parallel.
func TestTestbed(t *testing.T) {
	c := Require(t)
	t.Run("jobs", func(t *testing.T) {
		t.Run("WrapRunsUnderShOnANode", func(t *testing.T) { t.Parallel(); testWrap(t, c) })
		t.Run("TmpIsNodeLocal", func(t *testing.T) { t.Parallel(); testNodeLocalTmp(t, c) })
		t.Run("LmodModules", func(t *testing.T) { t.Parallel(); testLmod(t, c) })
		t.Run("ExitCode", func(t *testing.T) { t.Parallel(); testExitCode(t, c) })
	})
	if d := c.Drained(t); len(d) != 0 {
		t.Errorf("nodes drained after the jobs: %v", d)
	}
}

// job is a finished job.
type job struct {
	ID, State string
	Exit      int
	Out       string // stdout and stderr
}

// runJob submits a job running in dir and writing its output to dir/out, and waits for it.
func runJob(t *testing.T, c *Cluster, dir string, args ...string) job {
	t.Helper()
	j := job{ID: c.Submit(t, nil, append([]string{"-D", dir, "-o", filepath.Join(dir, "out")}, args...)...)}
	j.State, j.Exit = c.Wait(t, j.ID, 30*time.Second)
	b, err := os.ReadFile(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatalf("job %s (%s, exit %d): %v", j.ID, j.State, j.Exit, err)
	}
	j.Out = string(b)
	return j
}

// mustComplete fails the test unless the job completed with exit code 0.
func mustComplete(t *testing.T, j job) {
	t.Helper()
	if j.State != "COMPLETED" || j.Exit != 0 {
		t.Fatalf("job %s: state %s exit %d, output:\n%s", j.ID, j.State, j.Exit, j.Out)
	}
}

func testWrap(t *testing.T, c *Cluster) {
	dir := c.WorkDir(t)
	j := runJob(t, c, dir, "--wrap",
		`echo "shell=$(readlink /proc/$$/exe) host=$(hostname) user=$(id -un) leak=${PIP_FIND_LINKS:-none}"`)
	mustComplete(t, j)
	f := fields(j.Out)
	if f["shell"] != "/usr/bin/dash" {
		t.Errorf("--wrap script runs under %q, want /usr/bin/dash", f["shell"])
	}
	if f["host"] != "node1" && f["host"] != "node2" {
		t.Errorf("hostname in job = %q, want node1 or node2", f["host"])
	}
	if f["user"] != User {
		t.Errorf("job runs as %q, want %s", f["user"], User)
	}
	if f["leak"] != "none" {
		t.Errorf("root's environment leaked into the job: PIP_FIND_LINKS=%s", f["leak"])
	}
}

func testNodeLocalTmp(t *testing.T, c *Cluster) {
	dir := c.WorkDir(t)
	script := `#!/bin/sh
# step 1: every node writes its name to the same path in its /tmp
srun -N2 --ntasks-per-node=1 sh -c 'hostname > /tmp/$SLURM_JOB_ID-marker'
# step 2: every node reads it back; with a shared /tmp both would read the same name
srun -N2 --ntasks-per-node=1 sh -c 'echo "$(hostname) $(cat /tmp/$SLURM_JOB_ID-marker)"'
`
	writeFile(t, filepath.Join(dir, "job.sh"), script)
	j := runJob(t, c, dir, "-N2", filepath.Join(dir, "job.sh"))
	mustComplete(t, j)
	lines := strings.Split(strings.TrimSpace(j.Out), "\n")
	sort.Strings(lines)
	if strings.Join(lines, ";") != "node1 node1;node2 node2" {
		t.Errorf("each node should see only its own marker (\"host marker\" lines), got:\n%s", j.Out)
	}
	// On the host, node K's /tmp is $TB/cluster/nodes/nodeK/tmp; the host's /tmp has no marker.
	for _, n := range []string{"node1", "node2"} {
		b, err := os.ReadFile(c.Path("cluster", "nodes", n, "tmp", j.ID+"-marker"))
		if got := strings.TrimSpace(string(b)); err != nil || got != n {
			t.Errorf("%s's /tmp marker: %q, %v; want %q", n, got, err, n)
		}
	}
	if _, err := os.Stat("/tmp/" + j.ID + "-marker"); err == nil {
		t.Errorf("/tmp/%s-marker exists on the host: node /tmp is not private", j.ID)
	}
}

func testLmod(t *testing.T, c *Cluster) {
	dir := c.WorkDir(t)
	// A bare shell: Lmod must find the testbed's modulefiles without any MODULEPATH.
	script := `#!/bin/sh
env -i /bin/sh -c '. /usr/share/lmod/lmod/init/sh
module load python/3.11 cuda/12.1 || exit 1
echo "CUDA_VERSION=$CUDA_VERSION"
echo "python3=$(command -v python3)"
python3 -c "import sys; print(\"version=%d.%d\" % sys.version_info[:2])"'
`
	writeFile(t, filepath.Join(dir, "job.sh"), script)
	j := runJob(t, c, dir, filepath.Join(dir, "job.sh"))
	mustComplete(t, j)
	f := fields(j.Out)
	want := map[string]string{
		"CUDA_VERSION": "12.1",
		"python3":      c.Path("sw", "python-3.11", "bin", "python3"),
		"version":      "3.11",
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q; output:\n%s", k, f[k], v, j.Out)
		}
	}
}

func testExitCode(t *testing.T, c *Cluster) {
	dir := c.WorkDir(t)
	j := runJob(t, c, dir, "--wrap", "exit 3")
	if j.State != "FAILED" || j.Exit != 3 {
		t.Errorf("job %s with `exit 3`: state %s exit %d, want FAILED 3; output:\n%s", j.ID, j.State, j.Exit, j.Out)
	}
}

// fields parses the whitespace-separated name=value words of out.
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, w := range strings.Fields(out) {
		if k, v, ok := strings.Cut(w, "="); ok {
			m[k] = v
		}
	}
	return m
}

// writeFile writes a world-readable file (job scripts are read by the job user).
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}
