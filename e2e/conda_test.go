//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// condaTools returns the conda tools dir and the test channel's URL, as
// e2e/testbed/install-conda.sh installed them (world-readable: jobs run as
// User). Without them the test is skipped, or fails in CI.
func condaTools(t *testing.T) (tools, channel string) {
	t.Helper()
	channel = os.Getenv("SENV_TEST_CHANNEL")
	if channel == "" {
		if _, err := os.Stat("/opt/senv-conda-tools/env.sh"); err == nil {
			channel = "file:///opt/senv-conda-tools/channel"
		}
	}
	dir := strings.TrimPrefix(channel, "file://")
	tools = filepath.Dir(dir)
	if _, err := os.Stat(filepath.Join(dir, "noarch", "repodata.json")); channel == "" || err != nil {
		msg := "no conda tools: run `sudo bash e2e/testbed/install-conda.sh` and `. /opt/senv-conda-tools/env.sh`"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return tools, channel
}

// untouchedPkgsDirs fails the test when a conda package landed in the job user's default
// package caches (~/.conda/pkgs, ~/micromamba/pkgs) since start: senv's solves and builds
// use the stage's own (a user's pkgs_dirs usually sit on the shared filesystem).
func untouchedPkgsDirs(t *testing.T, start time.Time) {
	t.Helper()
	for _, dir := range []string{filepath.Join(userHome, ".conda", "pkgs"), filepath.Join(userHome, "micromamba", "pkgs")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if info, err := e.Info(); err == nil && !info.ModTime().Before(start) {
				t.Errorf("%s/%s was written during the test: a build used the user's package cache", dir, e.Name())
			}
		}
	}
}

// TestCondaEnvironmentYML: a 2-node job whose env is a real-world-shaped environment.yml
// (conda packages, a pip: section with its own sources, variables:), submitted with
// `senv sbatch` and built by the real micromamba, runs on both nodes from each node's stage
// dir with the activate.d effect, the variables and the pip package, and the solve line
// counts the conda packages.
func TestCondaEnvironmentYML(t *testing.T) {
	c := Require(t)
	tools, channel := condaTools(t)
	f := newFixture(t, c)
	start := time.Now().Add(-time.Second) // file times are coarser than the clock
	defer untouchedPkgsDirs(t, start)
	f.write(t, "environment.yml", `name: analysis
channels:
  - `+channel+`
  - nodefaults
dependencies:
  - python=3.11
  - hello-prefix
  - demo-noarch
  - pip:
      - --find-links {WHEELS}
      - --no-index
      - alpha
variables:
  SENV_E2E_VAR: from the yml
`)
	script := f.write(t, "analysis.sh", `#!/bin/bash
#SBATCH -N2 --ntasks-per-node=1
#ENV file environment.yml
srun -N2 --ntasks-per-node=1 bash -c 'echo "task host=$(hostname) activated=$HELLO_PREFIX_ACTIVATED var=$SENV_E2E_VAR alpha=$(python -c "import alpha; print(alpha.__file__)") noarch=$(demo-noarch | cut -d" " -f1-2) bin=$(hello-bin | head -1)"'
`)
	out := filepath.Join(f.Dir, "analysis.out")
	path := "PATH=" + tools + "/mamba/bin:" + c.Path("bin") + ":/usr/local/bin:/usr/bin:/bin"
	stdout, submitLog, exit := f.c.AsUser(t, f.Env(path), "env", "-C", f.Dir, "senv", "sbatch", "--parsable", "-D", f.Dir, "-o", out, script)
	id, _, _ := strings.Cut(strings.TrimSpace(stdout), ";")
	if exit != 0 || !regexp.MustCompile(`^[0-9]+$`).MatchString(id) {
		t.Fatalf("senv sbatch: exit %d\nstdout: %s\nstderr: %s", exit, stdout, submitLog)
	}
	j := f.finish(t, id, out, jobTimeout)
	mustComplete(t, j)
	envID := oneEnvID(t, "senv sbatch", submitLog)
	prefix := f.Stage + "/" + envID
	if !regexp.MustCompile(`senv: solved spec \w+ with micromamba 2\.8\.1 \+ uv [0-9.]+: [6-9] packages`).MatchString(submitLog) {
		t.Errorf("solve line does not count the conda and pip packages:\n%s", submitLog)
	}
	if !strings.Contains(submitLog, "environment.yml:1: warning: name: ignored") {
		t.Errorf("no warning about name: in\n%s", submitLog)
	}
	var tasks []string
	for _, line := range strings.Split(j.Out, "\n") {
		if strings.HasPrefix(line, "task ") {
			tasks = append(tasks, line)
		}
	}
	sort.Strings(tasks)
	var want []string
	for _, node := range []string{"node1", "node2"} {
		want = append(want, "task host="+node+" activated="+prefix+" var=from the yml alpha="+prefix+
			"/lib/python3.11/site-packages/alpha/__init__.py noarch=demo-noarch 0.1 bin=binary reads "+prefix+"/share/hello/data.txt")
		if _, done := f.stagedOn(node, envID); !exists(done) {
			t.Errorf("env %s is not staged on %s", envID, node)
		}
	}
	if strings.Join(tasks, "\n") != strings.Join(want, "\n") {
		t.Errorf("tasks printed:\n%s\nwant:\n%s", strings.Join(tasks, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(j.Out, phraseBuilding) || strings.Contains(j.Out, phraseSolved) {
		t.Errorf("the job solved or built; senv sbatch had done both")
	}
	if t.Failed() {
		t.Logf("senv sbatch:\n%s\n%s", submitLog, describe(j))
	}
}

// TestCondaFromModule: the seed's workflow. `#ENV module miniconda/3` puts conda on PATH (it
// is on no other PATH here), `#ENV conda -c CHANNEL ...` and `#ENV solver classic` are solved
// and built by that conda, and the job runs in the env with the module loaded.
func TestCondaFromModule(t *testing.T) {
	c := Require(t)
	tools, channel := condaTools(t)
	if _, err := os.Stat(c.Path("modulefiles", "miniconda", "3.lua")); err != nil {
		t.Fatalf("no miniconda/3 module (e2e/testbed/install-conda.sh writes it): %v", err)
	}
	f := newFixture(t, c)
	start := time.Now().Add(-time.Second)
	defer untouchedPkgsDirs(t, start)
	script := f.write(t, "module.sh", `#!/bin/bash
#ENV module miniconda/3
#ENV conda -c `+channel+` hello-prefix python
#ENV solver classic
echo "conda=$(command -v conda)"
echo "python=$(command -v python)"
hello-prefix | head -1
echo "activated=$HELLO_PREFIX_ACTIVATED"
`)
	out := filepath.Join(f.Dir, "module.out")
	id, submitLog := f.sbatch(t, "-D", f.Dir, "-o", out, script)
	j := f.finish(t, id, out, jobTimeout)
	mustComplete(t, j)
	prefix := f.Stage + "/" + oneEnvID(t, "senv sbatch", submitLog)
	if !regexp.MustCompile(`senv: solved spec \w+ with conda 26\.7\.1: [3-9] packages`).MatchString(submitLog) {
		t.Errorf("not solved by the module's conda, or 0 packages counted:\n%s", submitLog)
	}
	for _, want := range []string{"conda=" + tools + "/miniconda3/bin/conda", "python=" + prefix + "/bin/python",
		"installed prefix: " + prefix, "activated=" + prefix} {
		if !hasLine(j.Out, want) {
			t.Errorf("job output has no line %q", want)
		}
	}
	if t.Failed() {
		t.Logf("senv sbatch:\n%s\n%s", submitLog, describe(j))
	}
}
