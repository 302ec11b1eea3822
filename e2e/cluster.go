//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TB is the default root of the testbed started by e2e/testbed/start.sh. The environment
// variable SENV_TESTBED overrides it (for the scripts too); see Root.
const TB = "/opt/senv-testbed"

// User is the unprivileged user that submits the test jobs.
const User = "senvtest"

// userHome is User's home directory (useradd -m).
const userHome = "/home/" + User

// Root returns the testbed root: $SENV_TESTBED if set, else TB.
func Root() string {
	if r := os.Getenv("SENV_TESTBED"); r != "" {
		return r
	}
	return TB
}

// Cluster is the running testbed cluster. Get one with Require.
type Cluster struct {
	// Root is the testbed root (see Root): etc/, bin/, work/, cluster/log/hooks.log, ...
	Root string
	// Conf is the cluster's slurm.conf, passed to every Slurm command as SLURM_CONF.
	Conf string
}

// usableStates are the sinfo %T states of a node that can run jobs
// ("planned": idle, but the backfill scheduler has set it aside for a
// pending job).
var usableStates = map[string]bool{"idle": true, "mixed": true, "allocated": true, "completing": true, "planned": true}

// nodesNotUsable starts notReady's reason when only the nodes' states are
// wrong, which a freshly started cluster can pass through.
const nodesNotUsable = "want 2 usable nodes"

// Require returns the testbed cluster if it is up (both nodes usable) and the test runs as
// root. Otherwise it skips the test, with the reason and how to start the cluster; when the
// environment variable CI is set it fails the test instead, since in CI a skip is a failure.
func Require(t *testing.T) *Cluster {
	t.Helper()
	c := &Cluster{Root: Root()}
	c.Conf = filepath.Join(c.Root, "etc", "slurm.conf")
	reason := c.notReady()
	// node states settle within seconds of a start; poll, with a deadline
	for deadline := time.Now().Add(30 * time.Second); strings.HasPrefix(reason, nodesNotUsable) && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		reason = c.notReady()
	}
	if reason != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("e2e testbed not usable: %s", reason)
		}
		t.Skipf("e2e testbed not usable: %s; start it with: sudo bash e2e/testbed/start.sh", reason)
	}
	return c
}

// notReady says why the cluster cannot be used, or returns "".
func (c *Cluster) notReady() string {
	if os.Geteuid() != 0 {
		return "the e2e tests must run as root"
	}
	if _, err := os.Stat(c.Conf); err != nil {
		return fmt.Sprintf("no testbed config: %v", err)
	}
	if _, err := user.Lookup(User); err != nil {
		return fmt.Sprintf("no test user: %v", err)
	}
	// Without slurmctld, sinfo retries for 10 s before it fails: check the daemon first.
	if !alive(c.Path("cluster", "run", "slurmctld.pid")) {
		return "slurmctld is not running"
	}
	out, err := c.slurm("sinfo", "-h", "-N", "-o", "%N %T")
	if err != nil {
		return err.Error()
	}
	usable := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && usableStates[f[1]] {
			usable++
		}
	}
	if usable != 2 {
		return fmt.Sprintf("%s, sinfo says:\n%s", nodesNotUsable, out)
	}
	return ""
}

// alive reports whether the pid in pidFile is a live process (a zombie is not).
func alive(pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat")
	if err != nil {
		return false
	}
	// stat is "pid (comm) state ...": comm may contain spaces and parentheses.
	_, rest, _ := bytes.Cut(stat[bytes.LastIndexByte(stat, ')')+1:], []byte(" "))
	return len(rest) > 0 && rest[0] != 'Z'
}

// Path joins elem to the testbed root, e.g. c.Path("etc", "senv.toml").
func (c *Cluster) Path(elem ...string) string {
	return filepath.Join(append([]string{c.Root}, elem...)...)
}

// UnmountOnNodes detaches whatever is mounted at path in each node's mount namespace (the
// slurmd's, from its pid file), for a test's cleanup: a mount that the Epilog kept (or a
// failed test left) must not outlive the test's site cache.
func (c *Cluster) UnmountOnNodes(t *testing.T, path string) {
	t.Helper()
	pids, _ := filepath.Glob(c.Path("cluster", "run", "slurmd-*.pid"))
	for _, f := range pids {
		pid, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// umount fails when nothing is mounted there: that is the usual case
		_ = exec.Command("nsenter", "-t", strings.TrimSpace(string(pid)), "-m", "umount", "-l", path).Run()
	}
}

// slurm runs a Slurm command as root (sinfo, scontrol, squeue, ...) and returns its stdout.
func (c *Cluster) slurm(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "SLURM_CONF="+c.Conf)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// mustSlurm is slurm that fails the test on error.
func (c *Cluster) mustSlurm(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := c.slurm(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// WorkDir returns a fresh directory under $TB/work (mode 1777, removed at cleanup) for the
// test's job scripts and outputs. Jobs must not read anything under /tmp: each node has its
// own /tmp.
func (c *Cluster) WorkDir(t *testing.T) string {
	t.Helper()
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
	dir, err := os.MkdirTemp(c.Path("work"), name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// sticky, like work/ itself: a cache below a dir anyone may rename in is refused
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	return dir
}

// AsUser runs name args... as User in User's home directory, with a clean environment:
// HOME, USER, PATH ($TB/bin first) and SLURM_CONF, plus env ("NAME=value" entries, which win).
// Nothing of root's environment leaks into the command or the jobs it submits. It returns
// the command's output and exit code; it fails the test only if the command cannot be run.
func (c *Cluster) AsUser(t *testing.T, env []string, name string, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	argv := []string{"-u", User, "--", "env", "-i",
		"HOME=" + userHome,
		"USER=" + User,
		"PATH=" + c.Path("bin") + ":/usr/local/bin:/usr/bin:/bin",
		"SLURM_CONF=" + c.Conf,
	}
	argv = append(argv, env...)
	argv = append(argv, name)
	argv = append(argv, args...)
	cmd := exec.Command("runuser", argv...)
	cmd.Dir = userHome
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		exit = ee.ExitCode()
	default:
		t.Fatalf("run %s as %s: %v", name, User, err)
	}
	return out.String(), errb.String(), exit
}

// Submit runs `sbatch --parsable args...` as User (see AsUser for env) and returns the job ID.
// It fails the test if sbatch fails. The job's working directory defaults to User's home:
// pass -D DIR (e.g. a WorkDir) to run it elsewhere.
func (c *Cluster) Submit(t *testing.T, env []string, args ...string) string {
	t.Helper()
	stdout, stderr, exit := c.AsUser(t, env, "sbatch", append([]string{"--parsable"}, args...)...)
	id, _, _ := strings.Cut(strings.TrimSpace(stdout), ";")
	if exit != 0 || id == "" {
		t.Fatalf("sbatch %s: exit %d: %s%s", strings.Join(args, " "), exit, stdout, stderr)
	}
	return id
}

// terminalStates are the job states that Wait returns on.
var terminalStates = map[string]bool{
	"COMPLETED": true, "FAILED": true, "CANCELLED": true, "TIMEOUT": true, "NODE_FAIL": true,
	"OUT_OF_MEMORY": true, "BOOT_FAIL": true, "DEADLINE": true, "PREEMPTED": true,
	"SPECIAL_EXIT": true, "REQUEUE_HOLD": true,
}

var (
	reJobState = regexp.MustCompile(`(?:^| )JobState=(\S+)`)
	reReason   = regexp.MustCompile(`(?:^| )Reason=(\S+)`)
	reExitCode = regexp.MustCompile(`(?:^| )ExitCode=(\d+):(\d+)`)
)

// Wait polls the job every 100 ms until it ends and returns its state and exit code (the
// first number of scontrol's ExitCode). The state is a terminal Slurm state (COMPLETED,
// FAILED, CANCELLED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, ...) or "HELD" for a job that is
// pending and held, as a failed Prolog leaves it (requeued and held, its node drained); the
// reason is logged. Wait fails the test on timeout. Finished jobs stay visible to scontrol
// for MinJobAge=300 s.
func (c *Cluster) Wait(t *testing.T, jobID string, timeout time.Duration) (state string, exitCode int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var line string
	for {
		out, err := c.slurm("scontrol", "show", "job", "-o", jobID)
		if err != nil {
			t.Fatalf("job %s: %v", jobID, err)
		}
		line = strings.TrimSpace(out)
		m := reJobState.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("job %s: no JobState in %q", jobID, line)
		}
		state = m[1]
		reason := ""
		if r := reReason.FindStringSubmatch(line); r != nil {
			reason = r[1]
		}
		if terminalStates[state] {
			if e := reExitCode.FindStringSubmatch(line); e != nil {
				exitCode, _ = strconv.Atoi(e[1])
			}
			return state, exitCode
		}
		if state == "PENDING" && strings.Contains(strings.ToLower(reason), "held") {
			t.Logf("job %s is held: Reason=%s", jobID, reason)
			return "HELD", 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not finished after %v: %s", jobID, timeout, line)
		}
		<-tick.C
	}
}

// Drained returns the nodes that are drained or down with a reason (`sinfo -R`).
func (c *Cluster) Drained(t *testing.T) []string {
	t.Helper()
	var nodes []string
	for _, n := range strings.Fields(c.mustSlurm(t, "sinfo", "-R", "-h", "-N", "-o", "%N")) {
		if len(nodes) == 0 || nodes[len(nodes)-1] != n {
			nodes = append(nodes, n)
		}
	}
	return nodes
}

// Resume undoes what a failed Prolog or Epilog leaves behind: it resumes drained nodes and
// releases held jobs, which then run again at once, and waits until both nodes are usable.
// Call it at cleanup in tests that may drain a node.
func (c *Cluster) Resume(t *testing.T) {
	t.Helper()
	for _, n := range c.Drained(t) {
		c.mustSlurm(t, "scontrol", "update", "nodename="+n, "state=resume")
	}
	for _, line := range strings.Split(c.mustSlurm(t, "squeue", "-h", "-t", "PD", "-o", "%A %r"), "\n") {
		if id, reason, ok := strings.Cut(line, " "); ok && strings.Contains(strings.ToLower(reason), "held") {
			c.mustSlurm(t, "scontrol", "release", id)
			// A job requeued after a launch failure may not start for 2 minutes (BeginTime).
			c.mustSlurm(t, "scontrol", "update", "jobid="+id, "StartTime=now")
		}
	}
	// A resumed node shows as "idle*" (not responding) until slurmctld hears from its slurmd.
	deadline := time.Now().Add(30 * time.Second)
	for c.notReady() != "" {
		if time.Now().After(deadline) {
			t.Fatalf("nodes not usable after resume: %s", c.notReady())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// QueueLen returns the number of jobs in squeue (pending, running or completing).
func (c *Cluster) QueueLen(t *testing.T) int {
	t.Helper()
	return len(strings.Fields(c.mustSlurm(t, "squeue", "-h", "-o", "%A")))
}

// HooksOn makes the cluster's Prolog, Epilog and TaskProlog run $TB/bin/senv (see BuildSenv)
// with SENV_CONFIG=$TB/etc/senv.toml, until the test ends. Without it the hooks do nothing.
// Every hook run is logged to $TB/cluster/log/hooks.log.
func (c *Cluster) HooksOn(t *testing.T) {
	t.Helper()
	f := c.Path("etc", "hooks-on")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f) })
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// BuildSenv builds ./cmd/senv into $TB/bin/senv (mode 0755), once per test binary, and
// returns its path. The binary is replaced by a rename, so hooks that are running it at the
// time are not disturbed.
func BuildSenv(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildPath, buildErr = buildSenv()
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

func buildSenv() (string, error) {
	// go test runs in the package directory, e2e/; the module root is its parent.
	repo, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(repo, "go.mod")); err != nil {
		return "", fmt.Errorf("build senv: no module root at %s: %v", repo, err)
	}
	bin := filepath.Join(Root(), "bin")
	tmp, err := os.CreateTemp(bin, ".senv-build-")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/senv")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/senv: %v\n%s", err, out)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(bin, "senv")
	return dst, os.Rename(tmp.Name(), dst)
}
