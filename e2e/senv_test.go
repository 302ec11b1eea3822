//go:build e2e

package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/senv-hpc/senv/internal/wheelhouse"
)

// fixture is one test's own senv world, so that no test sees another's envs: a work dir
// (scripts, outputs, the cache) with the standard wheelhouse, a cache of its own and a stage
// directory of its own, which is cold on every node (node /tmp persists across tests).
type fixture struct {
	c      *Cluster
	Dir    string // WorkDir: scripts, job outputs, the cache
	Wheels string // wheelhouse.Standard: alpha 1.0 (needs beta>=1), beta 1.0 and 1.2, gamma 2.0
	Cache  string // SENV_CACHE_DIR
	Stage  string // SENV_STAGE_DIR: the same absolute path on the host and on every node
}

// newFixture builds senv into $TB/bin and makes a fixture. Its stage directory is removed from
// the host and from both nodes at cleanup.
func newFixture(t *testing.T, c *Cluster) *fixture {
	t.Helper()
	BuildSenv(t)
	dir := c.WorkDir(t)
	wheels, err := wheelhouse.BuildAll(filepath.Join(dir, "wheels"), wheelhouse.Standard)
	if err != nil {
		t.Fatal(err)
	}
	// Short: the stage path ends up in every console script's shebang (at most 127 bytes).
	f := &fixture{c: c, Dir: dir, Wheels: wheels, Cache: filepath.Join(dir, "cache"), Stage: "/tmp/senv-e2e-" + randomHex(t, 6)}
	t.Cleanup(func() {
		for _, root := range []string{"/tmp", f.nodeTmp("node1"), f.nodeTmp("node2")} {
			os.RemoveAll(filepath.Join(root, strings.TrimPrefix(f.Stage, "/tmp/")))
		}
	})
	return f
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// nodeTmp is node's /tmp as seen from the host.
func (f *fixture) nodeTmp(node string) string { return f.c.Path("cluster", "nodes", node, "tmp") }

// stagedOn is where env id is staged on node, seen from the host, and its completeness marker.
func (f *fixture) stagedOn(node, id string) (prefix, done string) {
	base := filepath.Join(f.nodeTmp(node), strings.TrimPrefix(f.Stage, "/tmp/"))
	return filepath.Join(base, id), filepath.Join(base, ".senv", id+".done")
}

// Env is the environment senv and the jobs get (sbatch exports it to the job): the fixture's
// cache and stage directory, and `#ENV python X` mapped to the testbed's python/X module.
func (f *fixture) Env(extra ...string) []string {
	return append([]string{
		"SENV_CACHE_DIR=" + f.Cache,
		"SENV_STAGE_DIR=" + f.Stage,
		"SENV_PYTHON_MODULE=python/{version}",
	}, extra...)
}

// expand replaces the fixture placeholders {DIR}, {WHEELS}, {CACHE}, {STAGE} and {TB} in s.
func (f *fixture) expand(s string) string {
	return strings.NewReplacer("{DIR}", f.Dir, "{WHEELS}", f.Wheels, "{CACHE}", f.Cache,
		"{STAGE}", f.Stage, "{TB}", f.c.Root).Replace(s)
}

// write writes a world-readable file under Dir (placeholders expanded) and returns its path.
func (f *fixture) write(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(f.Dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, f.expand(content))
	return path
}

// senv runs `senv args...` as the job user from Dir with the fixture's environment.
func (f *fixture) senv(t *testing.T, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	return f.c.AsUser(t, f.Env(), "env", append([]string{"-C", f.Dir, "senv"}, args...)...)
}

// sbatch runs `senv sbatch --parsable args...` and returns the job ID and senv's stderr (what
// it solved and built on the submit host). It fails the test if senv sbatch fails.
func (f *fixture) sbatch(t *testing.T, args ...string) (id, stderr string) {
	t.Helper()
	stdout, stderr, exit := f.senv(t, append([]string{"sbatch", "--parsable"}, args...)...)
	id, _, _ = strings.Cut(strings.TrimSpace(stdout), ";")
	if exit != 0 || !regexp.MustCompile(`^[0-9]+$`).MatchString(id) {
		t.Fatalf("senv sbatch %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), exit, stdout, stderr)
	}
	return id, stderr
}

// finish waits for job id and reads its output file.
func (f *fixture) finish(t *testing.T, id, out string, timeout time.Duration) job {
	t.Helper()
	j := job{ID: id}
	j.State, j.Exit = f.c.Wait(t, id, timeout)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("job %s (%s, exit %d): %v", id, j.State, j.Exit, err)
	}
	j.Out = string(b)
	return j
}

// jobsNamed returns the IDs of the jobs called name that slurmctld knows, finished ones too
// (they stay for MinJobAge).
func (c *Cluster) jobsNamed(t *testing.T, name string) []string {
	t.Helper()
	return strings.Fields(c.mustSlurm(t, "squeue", "-h", "-t", "all", "-n", name, "-o", "%A"))
}

// jobField returns NAME's value in `scontrol show job -o id`.
func (c *Cluster) jobField(t *testing.T, id, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?:^| )` + regexp.QuoteMeta(name) + `=(\S*)`).FindStringSubmatch(c.mustSlurm(t, "scontrol", "show", "job", "-o", id))
	if m == nil {
		return ""
	}
	return m[1]
}

// value returns the rest of the first line of out that starts with key=, and whether there is one.
func value(out, key string) (string, bool) {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// hasLine reports whether out has the line want, or, if want ends in "*", a line that starts
// with want's text before the "*".
func hasLine(out, want string) bool {
	prefix, isPrefix := strings.CutSuffix(want, "*")
	for _, line := range strings.Split(out, "\n") {
		if line == want || isPrefix && strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}

// reEnvLine matches senv's per-phase log lines about one env: "senv: env ID ...".
var reEnvLine = regexp.MustCompile(`(?m)^senv: env ([0-9a-f]{8,}) `)

// envIDs returns the distinct env IDs that senv's log lines in out name.
func envIDs(out string) []string {
	var ids []string
	seen := map[string]bool{}
	for _, m := range reEnvLine.FindAllStringSubmatch(out, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			ids = append(ids, m[1])
		}
	}
	return ids
}

// oneEnvID returns the only env ID out names, failing the test unless there is exactly one.
func oneEnvID(t *testing.T, what, out string) string {
	t.Helper()
	ids := envIDs(out)
	if len(ids) != 1 {
		t.Fatalf("%s: want senv lines about exactly one env, got %v in:\n%s", what, ids, out)
	}
	return ids[0]
}

// senvLines returns the lines of out that senv wrote about its phases ("senv: ..."), for
// failure messages.
func senvLines(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "senv:") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// Phrases of senv's per-phase log lines (README "Commands").
const (
	phraseSolved   = "senv: solved spec "
	phraseBuilding = " building with "
	phraseCacheHit = " cache hit, staged "
	phraseOnNode   = " already staged on this node"
)

// mustNotExist fails the test if path exists: a hostile directive ran a command.
func mustNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		t.Errorf("%s exists: a directive's value was executed", path)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// describe is a job for failure messages.
func describe(j job) string {
	return fmt.Sprintf("job %s (%s, exit %d), output:\n%s", j.ID, j.State, j.Exit, j.Out)
}
