//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHooks drives senv as the cluster's Prolog and TaskProlog (c.HooksOn): plain `sbatch`
// jobs with #ENV lines get their env, pre-staged by the prolog when the cache has it, built
// by the task prolog when not; broken or hostile directives fail the job with a senv: message
// and never drain a node. The subtests run one after the other: the hooks serve every job.
//
// The hooks read $TB/etc/senv.toml (the Prolog runs with a cleared environment), so the test
// points it at its own cache and stage directory for its duration.
func TestHooks(t *testing.T) {
	c := Require(t)
	f := newFixture(t, c)
	conf := c.Path("etc", "senv.toml")
	old, err := os.ReadFile(conf)
	must(t, err)
	t.Cleanup(func() { os.WriteFile(conf, old, 0o644) })
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf("cache_dir = %q\nstage_dir = %q\npython_module = \"python/{version}\"\n", f.Cache, f.Stage)), 0o644))
	c.HooksOn(t)
	t.Cleanup(func() {
		if d := c.Drained(t); len(d) != 0 {
			t.Errorf("nodes drained: %v; resuming them", d)
			c.Resume(t)
		}
	})
	userEnv := []string{"SENV_CONFIG=" + conf} // what the hooks see, and nothing else

	t.Run("PrologPrestages", func(t *testing.T) { testPrologPrestages(t, f, userEnv) })
	t.Run("TaskPrologActivates", func(t *testing.T) { testTaskPrologActivates(t, f) })
	t.Run("SenvSbatchJob", func(t *testing.T) { testSenvSbatchUnderHooks(t, f) })
	t.Run("BrokenDirectivesNeverDrain", func(t *testing.T) { testBrokenUnderHooks(t, f, userEnv) })
	t.Run("EpilogGC", func(t *testing.T) { testEpilogGC(t, f, conf) })
}

// testEpilogGC: with epilog_gc set, the Epilog (root, then the job user's half) removes the
// job user's staged envs on the job's node that were last used longer ago, and keeps the
// ones used since: an env used 14 minutes ago, and the env an earlier subtest staged there.
func testEpilogGC(t *testing.T, f *fixture, conf string) {
	c := f.c
	old, err := os.ReadFile(conf)
	must(t, err)
	t.Cleanup(func() { os.WriteFile(conf, old, 0o644) })
	must(t, os.WriteFile(conf, append(old, "epilog_gc = \"1h\"\n"...), 0o644))
	u, err := user.Lookup(User)
	must(t, err)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	const recent, stale = "1111111111111111", "2222222222222222"
	var keep []string // every env on node1 before the job: all used within the hour
	for id, used := range map[string]time.Duration{recent: 14 * time.Minute, stale: 2 * time.Hour} {
		prefix, done := f.stagedOn("node1", id)
		lease := strings.TrimSuffix(done, ".done") + ".lease"
		for _, d := range []string{filepath.Dir(prefix), filepath.Dir(done), prefix} {
			must(t, os.MkdirAll(d, 0o700))
			must(t, os.Chown(d, uid, gid))
		}
		for _, file := range []string{done, lease} {
			must(t, os.WriteFile(file, nil, 0o600))
			must(t, os.Chown(file, uid, gid))
		}
		at := time.Now().Add(-used)
		must(t, os.Chtimes(lease, at, at))
	}
	base, _ := f.stagedOn("node1", "")
	ents, err := os.ReadDir(base)
	must(t, err)
	for _, e := range ents {
		if e.IsDir() && e.Name() != stale && e.Name() != ".senv" {
			keep = append(keep, e.Name())
		}
	}
	script := f.write(t, "epilog.sh", "#!/bin/sh\necho ran\n")
	out := filepath.Join(f.Dir, "epilog.out")
	j := f.finish(t, c.Submit(t, nil, "-w", "node1", "-D", f.Dir, "-o", out, script), out, jobTimeout)
	mustComplete(t, j)
	stalePrefix, _ := f.stagedOn("node1", stale)
	// the Epilog runs after the job is reported complete: poll, with a deadline
	for deadline := time.Now().Add(30 * time.Second); exists(stalePrefix); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("env %s, unused for 2 hours, still staged on node1 30s after job %s (epilog_gc 1h); epilog runs: %v",
				stale, j.ID, c.hookStarts(t, "epilog", j.ID, "node1"))
		}
	}
	for _, id := range keep {
		if prefix, _ := f.stagedOn("node1", id); !exists(prefix) {
			t.Errorf("the epilog removed env %s, used within the hour (epilog_gc 1h)", id)
		}
	}
	if d := c.Drained(t); len(d) != 0 {
		t.Errorf("the epilog drained %v", d)
	}
}

// testPrologPrestages: after `senv build` on the submit host, the Prolog stages the env onto
// the job's node before any task starts (the .done marker predates the TaskProlog), only
// there, and the job runs with the staged env's python.
func testPrologPrestages(t *testing.T, f *fixture, userEnv []string) {
	c := f.c
	script := f.write(t, "pre.sh", `#!/bin/bash
#ENV module cuda/12.1
#ENV python 3.11
#ENV pip alpha
#ENV find-links {WHEELS}
#ENV no-index
echo "host=$(hostname)"
echo "python=$(command -v python)"
echo "CUDA_VERSION=$CUDA_VERSION"
alpha-hello
`)
	stdout, stderr, exit := c.AsUser(t, userEnv, "senv", "build", script)
	if exit != 0 {
		t.Fatalf("senv build: exit %d\n%s", exit, stderr)
	}
	envID := strings.TrimSpace(stdout)
	for _, node := range []string{"node1", "node2"} {
		if _, done := f.stagedOn(node, envID); exists(done) {
			t.Fatalf("env %s is staged on %s before the job", envID, node)
		}
	}

	out := filepath.Join(f.Dir, "pre.out")
	j := f.finish(t, c.Submit(t, nil, "-D", f.Dir, "-o", out, script), out, jobTimeout)
	mustComplete(t, j)
	host, _ := value(j.Out, "host")
	if got, _ := value(j.Out, "python"); got != f.Stage+"/"+envID+"/bin/python" {
		t.Errorf("python = %q, want the staged env's %s/%s/bin/python", got, f.Stage, envID)
	}
	if got, _ := value(j.Out, "CUDA_VERSION"); got != "12.1" {
		t.Errorf("CUDA_VERSION = %q, want 12.1 (module cuda/12.1)", got)
	}
	if !hasLine(j.Out, "hello from alpha 1.0") {
		t.Errorf("alpha-hello did not run")
	}
	for _, node := range []string{"node1", "node2"} {
		_, done := f.stagedOn(node, envID)
		if node != host {
			if exists(done) {
				t.Errorf("env staged on %s, where the job did not run", node)
			}
			continue
		}
		st, err := os.Stat(done)
		if err != nil {
			t.Fatalf("env %s not staged on %s, where the job ran: %v", envID, node, err)
		}
		prolog := c.hookStarts(t, "prolog", j.ID, node)
		task := c.hookStarts(t, "taskprolog", j.ID, node)
		if len(prolog) != 1 || len(task) == 0 {
			t.Fatalf("hooks.log: want one senv prolog and a senv taskprolog for job %s on %s, got %v and %v", j.ID, node, prolog, task)
		}
		staged := st.ModTime()
		p, tp := onDay(staged, prolog[0]), onDay(staged, task[0])
		if staged.Before(p) || !staged.Before(tp) {
			t.Errorf("env staged at %s, want it staged by the prolog (started %s), before the task prolog (started %s)",
				staged.Format("15:04:05.000000"), p.Format("15:04:05.000000"), tp.Format("15:04:05.000000"))
		}
	}
	if t.Failed() {
		t.Logf("%s", describe(j))
	}
}

// testTaskPrologActivates: a plain sbatch job with #ENV lines whose env is in no cache gets
// it from the TaskProlog, on every node a task runs on: built once (by the task prolog: the
// prolog never builds), then staged, with the modules' variables and the setenv values
// exported to the tasks. Its requirements file is found beside the script.
func testTaskPrologActivates(t *testing.T, f *fixture) {
	c := f.c
	f.write(t, "tp-requirements.txt", "gamma\n")
	script := f.write(t, "tp.sh", `#!/bin/bash
#SBATCH -N2 --ntasks-per-node=1
#ENV module gcc/12
#ENV requirements tp-requirements.txt
#ENV setenv E2E_VIA=taskprolog
#ENV find-links {WHEELS}
#ENV no-index
echo "python=$(command -v python)"
echo "TESTBED_GCC=$TESTBED_GCC"
echo "E2E_VIA=$E2E_VIA"
srun -N2 --ntasks-per-node=1 python -c 'import gamma, os, socket; print("task host=%s via=%s file=%s" % (socket.gethostname(), os.environ.get("E2E_VIA"), gamma.__file__))'
`)
	out := filepath.Join(f.Dir, "tp.out")
	j := f.finish(t, c.Submit(t, nil, "-D", f.Dir, "-o", out, script), out, jobTimeout)
	mustComplete(t, j)
	python, _ := value(j.Out, "python")
	envID := strings.TrimSuffix(strings.TrimPrefix(python, f.Stage+"/"), "/bin/python")
	if envID == python || strings.Contains(envID, "/") {
		t.Fatalf("python = %q, want %s/ID/bin/python; output:\n%s", python, f.Stage, j.Out)
	}
	for k, v := range map[string]string{"TESTBED_GCC": "12", "E2E_VIA": "taskprolog"} {
		if got, _ := value(j.Out, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	file := f.Stage + "/" + envID + "/lib/python3.11/site-packages/gamma/__init__.py"
	for _, node := range []string{"node1", "node2"} {
		if want := "task host=" + node + " via=taskprolog file=" + file; !hasLine(j.Out, want) {
			t.Errorf("no line %q", want)
		}
		if _, done := f.stagedOn(node, envID); !exists(done) {
			t.Errorf("env %s not staged on %s", envID, node)
		}
	}
	// Built by the batch node's task prolog, not by its prolog, which never builds.
	st, err := os.Stat(filepath.Join(f.Cache, "v1", "envs", envID))
	if err != nil {
		t.Fatalf("env %s is not in the cache: %v", envID, err)
	}
	batch := c.jobField(t, j.ID, "BatchHost")
	if task := c.hookStarts(t, "taskprolog", j.ID, batch); len(task) == 0 || st.ModTime().Before(onDay(st.ModTime(), task[0])) {
		t.Errorf("env %s was published to the cache at %s, before the task prolog on %s started (%v): the prolog built it",
			envID, st.ModTime().Format("15:04:05.000000"), batch, task)
	}
	if t.Failed() {
		t.Logf("%s", describe(j))
	}
}

// testSenvSbatchUnderHooks: a site that turns the hooks on must not break `senv sbatch`: its
// job (relative requirements file, built at submit) runs as it does without the hooks.
func testSenvSbatchUnderHooks(t *testing.T, f *fixture) {
	f.write(t, "sub/requirements.txt", "alpha\n")
	script := f.write(t, "sub/job.sh", `#!/bin/bash
#ENV requirements requirements.txt
#ENV find-links {WHEELS}
#ENV no-index
alpha-hello
`)
	out := filepath.Join(f.Dir, "sub.out")
	id, _ := f.sbatch(t, "-D", f.Dir, "-o", out, script)
	j := f.finish(t, id, out, jobTimeout)
	if j.State != "COMPLETED" || j.Exit != 0 || !hasLine(j.Out, "hello from alpha 1.0") {
		t.Errorf("a senv sbatch job with a relative requirements file fails when the TaskProlog hook is on: %s", describe(j))
	}
}

// brokenCases are scripts, each wrong or hostile in one way, submitted with plain sbatch (senv
// sbatch would refuse them). want is what the job's senv: message must name.
var brokenCases = []struct {
	name, env, want string // env: the #ENV lines
}{
	{"unknown key", "pyhton 3.11", "pyhton"},
	{"missing requirements file", "requirements nope.txt", "nope.txt"},
	{"unknown module", "module cuda/99", "cuda/99"},
	{"bad setenv name", "setenv 1BAD=x", "1BAD"},
	{"setenv without value", "setenv NOEQUALS", "NOEQUALS"},
	{"command substitution in pip", `pip "alpha$(touch {DIR}/pwned-pip)"`, "alpha$(touch"},
	{"backticks in module", "module 'gcc/12`touch {DIR}/pwned-bt`'", "gcc/12`touch"},
	{"semicolon in module", `module gcc/12;touch\ {DIR}/pwned-mod`, "gcc/12;touch"},
	{"single key twice", "python 3.11\n#ENV python 3.10", "given twice"},
	{"unknown manager", "manager poetry", "poetry"},
	{"unclosed quote", `pip "alpha`, "closing quote"},
	{"unknown package", "pip nosuchpkg\n#ENV find-links {WHEELS}\n#ENV no-index", "nosuchpkg"},
	{"missing wheelhouse", "pip alpha\n#ENV find-links {DIR}/nowheels\n#ENV no-index", "nowheels"},
	{"use a missing env", "use /nonexistent/venv", "/nonexistent/venv"},
	{"use a directory that is no env", "use {DIR}", "not a venv"},
	{"missing env file", "file missing.yml", "missing.yml"},
	{"python without a module", "python 2.7", "2.7"},
	{"conda without conda", "conda numpy", "conda"},
	{"unknown stage", "stage elsewhere", "elsewhere"},
	{"unreadable requirements file", "requirements /etc/shadow", "/etc/shadow"},
}

// testBrokenUnderHooks submits every broken case with plain sbatch: each job fails before its
// payload with a senv: message naming the problem, `senv task-prolog` speaks only Slurm's
// protocol, no value is executed, and no node drains.
func testBrokenUnderHooks(t *testing.T, f *fixture, userEnv []string) {
	c := f.c
	ids := make([]string, len(brokenCases))
	for i, tc := range brokenCases {
		script := f.write(t, fmt.Sprintf("broken%02d.sh", i), "#!/bin/bash\n#ENV "+tc.env+"\necho PAYLOAD-RAN\n")
		ids[i] = c.Submit(t, nil, "-D", f.Dir, "-o", filepath.Join(f.Dir, fmt.Sprintf("broken%02d.out", i)), script)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for i, tc := range brokenCases {
		t.Run(tc.name, func(t *testing.T) {
			j := f.finish(t, ids[i], filepath.Join(f.Dir, fmt.Sprintf("broken%02d.out", i)), time.Until(deadline))
			if j.State != "FAILED" || j.Exit == 0 {
				t.Errorf("state %s exit %d, want FAILED with a non-zero exit", j.State, j.Exit)
			}
			if strings.Contains(j.Out, "PAYLOAD-RAN") {
				t.Errorf("the payload ran")
			}
			if !hasSenvLine(j.Out, f.expand(tc.want)) {
				t.Errorf("no line starting with %q that names %q in the job's output", "senv: ", f.expand(tc.want))
			}
			// The TaskProlog protocol, straight from senv: nothing but export/unset/print lines.
			stdout, _, exit := c.AsUser(t, append([]string{"SLURM_JOB_ID=" + j.ID}, userEnv...), "senv", "task-prolog")
			if exit == 0 {
				t.Errorf("senv task-prolog for job %s: exit 0, want non-zero", j.ID)
			}
			if bad := nonProtocolLines(stdout); len(bad) != 0 {
				t.Errorf("senv task-prolog printed %d lines that are not TaskProlog protocol (export/unset/print), e.g. %q; full output:\n%s", len(bad), bad[0], stdout)
			}
			if t.Failed() {
				t.Logf("#ENV %s\n%s", f.expand(tc.env), describe(j))
			}
		})
	}
	for _, m := range []string{"pwned-pip", "pwned-bt", "pwned-mod"} {
		mustNotExist(t, filepath.Join(f.Dir, m))
	}
	if d := c.Drained(t); len(d) != 0 {
		t.Errorf("broken directives drained %v", d)
	}
}

// hasSenvLine reports whether out has a line that starts with "senv: " and contains want.
func hasSenvLine(out, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "senv: ") && strings.Contains(l, want) {
			return true
		}
	}
	return false
}

// reProtocol is a TaskProlog output line Slurm understands.
var reProtocol = regexp.MustCompile(`^(export [A-Za-z_][A-Za-z0-9_]*=.*|unset [A-Za-z_][A-Za-z0-9_]*|print .*)$`)

func nonProtocolLines(out string) []string {
	var bad []string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l != "" && !reProtocol.MatchString(l) {
			bad = append(bad, l)
		}
	}
	return bad
}

// hookStarts returns when hook (prolog, taskprolog or epilog) started for job on node, for
// the runs that executed senv, as hooks.log records it: local time of day, "15:04:05.000000000".
func (c *Cluster) hookStarts(t *testing.T, hook, jobID, node string) []string {
	t.Helper()
	fh, err := os.Open(c.Path("cluster", "log", "hooks.log"))
	must(t, err)
	defer fh.Close()
	var starts []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) >= 7 && w[0] == hook && w[2] == "node="+node && w[3] == "job="+jobID && w[6] == "hooks=senv" {
			starts = append(starts, w[1])
		}
	}
	must(t, sc.Err())
	return starts
}

// onDay is the time of day clock ("15:04:05.000000000", local time as hooks.log writes it) on
// ref's day.
func onDay(ref time.Time, clock string) time.Time {
	tod, err := time.ParseInLocation("15:04:05.999999999", clock, time.Local)
	if err != nil {
		return time.Time{}
	}
	y, m, d := ref.Local().Date()
	return time.Date(y, m, d, tod.Hour(), tod.Minute(), tod.Second(), tod.Nanosecond(), time.Local)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
