//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestMultiNode: in a 2-node job submitted with `senv sbatch`, every node gets the env staged
// once, before the payload's tasks start, and each task imports from its own node's disk.
func TestMultiNode(t *testing.T) {
	c := Require(t)
	f := newFixture(t, c)
	script := f.write(t, "mpi.sh", `#!/bin/bash
#SBATCH -N2 --ntasks-per-node=1
#ENV pip alpha
#ENV find-links {WHEELS}
#ENV no-index
srun -N2 --ntasks-per-node=1 python -c 'import alpha, socket; print("task host=%s file=%s" % (socket.gethostname(), alpha.__file__))'
`)
	out := filepath.Join(f.Dir, "mpi.out")
	id, submitLog := f.sbatch(t, "-D", f.Dir, "-o", out, script)
	j := f.finish(t, id, out, jobTimeout)
	mustComplete(t, j)
	envID := oneEnvID(t, "senv sbatch", submitLog)
	prefix := f.Stage + "/" + envID

	// One line per task: each on its node, importing from that node's stage dir. The path is
	// the same on both nodes; that it is node-local is checked below, from the host.
	var tasks []string
	for _, line := range strings.Split(j.Out, "\n") {
		if strings.HasPrefix(line, "task ") {
			tasks = append(tasks, line)
		}
	}
	sort.Strings(tasks)
	file := prefix + "/lib/python3.11/site-packages/alpha/__init__.py"
	if want := []string{"task host=node1 file=" + file, "task host=node2 file=" + file}; strings.Join(tasks, "\n") != strings.Join(want, "\n") {
		t.Errorf("tasks printed:\n%s\nwant:\n%s", strings.Join(tasks, "\n"), strings.Join(want, "\n"))
	}
	for _, node := range []string{"node1", "node2"} {
		dir, done := f.stagedOn(node, envID)
		for _, p := range []string{done, filepath.Join(dir, "lib", "python3.11", "site-packages", "alpha", "__init__.py")} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("env %s is not staged on %s: %v", envID, node, err)
			}
		}
	}
	// Each node copied the env from the cache once: the batch node when the script activated
	// it, the other in the staging step, where the batch node found it already staged.
	if n := strings.Count(j.Out, phraseCacheHit); n != 2 {
		t.Errorf("%d %q lines, want 2 (one per node)", n, phraseCacheHit)
	}
	if n := strings.Count(j.Out, phraseOnNode); n > 1 {
		t.Errorf("%d %q lines, want at most 1 (the batch node in the staging step)", n, phraseOnNode)
	}
	if n := strings.Count(j.Out, "staged on all 2 nodes"); n != 1 {
		t.Errorf("%d %q lines, want 1", n, "staged on all 2 nodes")
	}
	if strings.Contains(j.Out, phraseBuilding) || strings.Contains(j.Out, phraseSolved) {
		t.Errorf("the job solved or built; senv sbatch had done both")
	}
	if t.Failed() {
		t.Logf("%s", describe(j))
	}
}

// TestArray: a 20-task job array on a cold cache builds its env exactly once: inside the
// first task to get there with --build-at job (the others wait for it and stage), on the
// submit host by default (no task builds). 20 tasks on 2 nodes of 2 CPUs run in rounds.
func TestArray(t *testing.T) {
	c := Require(t)
	const tasks = 20
	tests := []struct {
		buildAt       string
		submitBuilds  int // "building with" lines in senv sbatch's output
		jobBuilds     int // the same, summed over the tasks' logs
		solvesOverall int // "solved spec" lines, submit host and tasks together
	}{
		{buildAt: "job", submitBuilds: 0, jobBuilds: 1, solvesOverall: 1},
		{buildAt: "submit", submitBuilds: 1, jobBuilds: 0, solvesOverall: 1},
	}
	for _, tc := range tests {
		t.Run("build-at-"+tc.buildAt, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, c)
			f.write(t, "array.sh", `#!/bin/bash
#ENV pip alpha
#ENV find-links {WHEELS}
#ENV no-index
echo "task=$SLURM_ARRAY_TASK_ID host=$(hostname)"
alpha-hello
`)
			id, submitLog := f.sbatch(t, "--build-at", tc.buildAt, fmt.Sprintf("--array=0-%d", tasks-1),
				"-D", f.Dir, "-o", filepath.Join(f.Dir, "array-%a.out"), "array.sh")
			deadline := time.Now().Add(4 * time.Minute)
			var logs strings.Builder
			builds, solves, ok := 0, strings.Count(submitLog, phraseSolved), 0
			for i := 0; i < tasks; i++ {
				j := f.finish(t, fmt.Sprintf("%s_%d", id, i), filepath.Join(f.Dir, fmt.Sprintf("array-%d.out", i)), time.Until(deadline))
				fmt.Fprintf(&logs, "--- task %d (%s, exit %d):\n%s", i, j.State, j.Exit, senvLines(j.Out))
				builds += strings.Count(j.Out, phraseBuilding)
				solves += strings.Count(j.Out, phraseSolved)
				if j.State == "COMPLETED" && j.Exit == 0 && hasLine(j.Out, "hello from alpha 1.0") &&
					hasLine(j.Out, fmt.Sprintf("task=%d host=*", i)) {
					ok++
				} else {
					t.Errorf("task %d did not run in the env: %s", i, describe(j))
				}
			}
			if n := strings.Count(submitLog, phraseBuilding); n != tc.submitBuilds {
				t.Errorf("senv sbatch --build-at %s built %d times on the submit host, want %d", tc.buildAt, n, tc.submitBuilds)
			}
			if builds != tc.jobBuilds {
				t.Errorf("%d builds in the tasks' logs, want %d", builds, tc.jobBuilds)
			}
			if solves != tc.solvesOverall {
				t.Errorf("%d solves overall, want %d", solves, tc.solvesOverall)
			}
			if ok != tasks {
				t.Errorf("%d of %d tasks succeeded", ok, tasks)
			}
			if t.Failed() {
				t.Logf("senv sbatch:\n%s\ntasks:\n%s", submitLog, logs.String())
			}
		})
	}
}
