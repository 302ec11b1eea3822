//go:build e2e

package e2e

import (
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/senv-hpc/senv/internal/ptytest"
)

// userCredential is User's uid and gid, for a process started as User.
func userCredential(t *testing.T) *syscall.Credential {
	t.Helper()
	u, err := user.Lookup(User)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
}

// privateSenv builds senv into dir/bin/senv (world-readable) and returns that dir. Other
// test runs replace the shared $TB/bin/senv at any time; a kernelspec records the binary's
// path, and a shell's srun steps run the binary it started from, so these tests use their own.
func privateSenv(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(bin, "senv"), "./cmd/senv")
	cmd.Dir = ".." // the module root: go test runs in e2e/
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/senv: %v\n%s", err, out)
	}
	return bin
}

// TestShellSalloc: `senv shell` inside a two-node salloc, driven on a terminal: the env is
// staged on both nodes before the prompt appears, so `srun -N2 python` imports from each
// node's own stage; the module is loaded; leaving the shell ends the allocation.
func TestShellSalloc(t *testing.T) {
	c := Require(t)
	f := newFixture(t, c)
	bin := privateSenv(t, f.Dir)
	env := append([]string{"HOME=" + userHome, "USER=" + User, "SHELL=/bin/bash", "TERM=dumb",
		"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin", "SLURM_CONF=" + c.Conf}, f.Env()...)
	args := append(append([]string{"-i"}, env...), "salloc", "-N2", "--ntasks-per-node=1",
		"senv", "shell", "--name", "demo", "--module", "cuda/12.1", "--pip", "alpha", "--find-links", f.Wheels, "--no-index")
	cmd := exec.Command("env", args...)
	cmd.Dir = f.Dir
	term, err := ptytest.Start(cmd, userCredential(t))
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	defer func() {
		if t.Failed() {
			t.Logf("terminal:\n%s", term.Output())
		}
	}()
	m, _, err := term.Expect(regexp.MustCompile(`Granted job allocation (\d+)`), 0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	jobID := m[1]
	t.Cleanup(func() { _, _ = c.slurm("scancel", jobID) }) // if the test ends before the shell does
	m, off, err := term.Expect(regexp.MustCompile(`\(senv:demo\|([0-9a-f]{16})\) `), 0, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	id := m[1]
	if !strings.Contains(term.Output()[:off], "staged on all 2 nodes") {
		t.Errorf("no %q line before the prompt", "staged on all 2 nodes")
	}
	for _, node := range []string{"node1", "node2"} {
		if _, done := f.stagedOn(node, id); !exists(done) {
			t.Errorf("env %s is not staged on %s when the shell starts", id, node)
		}
	}
	if err := term.Send(`srun -N2 --ntasks-per-node=1 python -c 'import alpha, os, socket; print("task host=%s file=%s cuda=%s" % (socket.gethostname(), alpha.__file__, os.environ.get("CUDA_VERSION")))'`); err != nil {
		t.Fatal(err)
	}
	taskRe := regexp.MustCompile(`task host=(node\d+) file=(/\S+) cuda=([0-9.]+)`) // not the echoed command line
	var tasks []string
	for i := 0; i < 2; i++ {
		if m, off, err = term.Expect(taskRe, off, time.Minute); err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, m[1]+" "+m[2]+" "+m[3])
	}
	sort.Strings(tasks)
	file := f.Stage + "/" + id + "/lib/python3.11/site-packages/alpha/__init__.py"
	if want := []string{"node1 " + file + " 12.1", "node2 " + file + " 12.1"}; strings.Join(tasks, "\n") != strings.Join(want, "\n") {
		t.Errorf("srun tasks printed:\n%s\nwant:\n%s", strings.Join(tasks, "\n"), strings.Join(want, "\n"))
	}
	// typed-ahead input would go to srun's stdin: wait for the prompt
	if _, _, err = term.Expect(regexp.MustCompile(`\(senv:demo\|`+id+`\) `), off, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := term.Send("exit"); err != nil {
		t.Fatal(err)
	}
	if err := term.Wait(time.Minute); err != nil {
		t.Errorf("salloc with senv shell: %v", err)
	}
	if state, _ := c.Wait(t, jobID, 30*time.Second); state != "COMPLETED" {
		t.Errorf("allocation %s ended %s after the shell exited, want COMPLETED", jobID, state)
	}
}

var (
	pypiOnce sync.Once
	pypiDir  string
	pypiErr  error
)

// pypiWheels downloads ipykernel and jupyter_client with their dependencies from PyPI into
// a world-readable wheelhouse, once per test run, so the envs build with --no-index.
func pypiWheels(t *testing.T, c *Cluster) string {
	t.Helper()
	pypiOnce.Do(func() {
		pypiDir, pypiErr = os.MkdirTemp(c.Path("work"), "pypi-wheels-")
		if pypiErr != nil {
			return
		}
		if pypiErr = os.Chmod(pypiDir, 0o755); pypiErr != nil {
			return
		}
		pip := []string{"/opt/senv-piplock/bin/python", "-m", "pip"} // a pip on the nodes' python 3.11
		if !exists(pip[0]) {
			pip = []string{"python3.11", "-m", "pip"}
		}
		cmd := exec.Command(pip[0], append(pip[1:], "download", "-q", "--only-binary=:all:", "-d", pypiDir, "ipykernel", "jupyter_client")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			pypiErr = errors.New("pip download ipykernel jupyter_client: " + err.Error() + ": " + string(out))
		}
	})
	if pypiErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(pypiErr)
		}
		t.Skipf("cannot get ipykernel from PyPI (a failure when CI is set): %v", pypiErr)
	}
	return pypiDir
}

// jupyterDriver starts the kernel named argv[2] from the kernels dir argv[1] with the real
// jupyter_client, runs the code argv[3] in it and prints what it printed.
const jupyterDriver = `import sys
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
kernels, name, code = sys.argv[1:4]
ksm = KernelSpecManager()
ksm.kernel_dirs = [kernels]
km = KernelManager(kernel_name=name, kernel_spec_manager=ksm)
km.start_kernel()
try:
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    msg_id = kc.execute(code)
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            sys.stdout.write(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            sys.exit("kernel error: %s: %s" % (msg["content"]["ename"], msg["content"]["evalue"]))
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    kc.stop_channels()
finally:
    km.shutdown_kernel(now=True)
`

// TestKernelJupyter: a kernel installed with `senv kernel install` is started by the real
// jupyter_client in a clean environment (env -i: no PATH, no HOME, no SENV_ variables, no
// modules): it runs in the staged env with its module loaded and holds the env's lease; it
// restages after the stage dir is removed; and started on a compute node, it stages there.
func TestKernelJupyter(t *testing.T) {
	c := Require(t)
	f := newFixture(t, c)
	pypi := pypiWheels(t, c)
	jc := filepath.Join(f.Dir, "jc")
	for _, argv := range [][]string{
		{"uv", "venv", "-q", "--python", "/usr/bin/python3.11", jc},
		{"uv", "pip", "install", "-q", "--python", jc + "/bin/python", "--no-index", "--find-links", pypi, "jupyter_client"},
	} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	driver := f.write(t, "driver.py", jupyterDriver)
	prefix := filepath.Join(f.Dir, "jupyter")
	senv := filepath.Join(privateSenv(t, f.Dir), "senv")
	stdout, stderr, exit := c.AsUser(t, f.Env(), "env", "-C", f.Dir, senv, "kernel", "install", "--prefix", prefix, "--name", "demo",
		"--module", "cuda/12.1", "--pip", "alpha", "--find-links", f.Wheels, "--find-links", pypi, "--no-index")
	if exit != 0 || strings.TrimSpace(stdout) != "demo" {
		t.Fatalf("senv kernel install: exit %d\nstdout: %s\nstderr: %s", exit, stdout, stderr)
	}
	id := oneEnvID(t, "senv kernel install", stderr)
	kernels := filepath.Join(prefix, "share", "jupyter", "kernels")
	lease := filepath.Join(f.Stage, ".senv", id+".lease")
	code := `import alpha, fcntl, os
print("file=" + alpha.__file__)
print("cuda=%s" % os.environ.get("CUDA_VERSION"))
f = open(` + strconv.Quote(lease) + `)
try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("lease=free")
except BlockingIOError:
    print("lease=held")
`
	file := f.Stage + "/" + id + "/lib/python3.11/site-packages/alpha/__init__.py"
	want := "file=" + file + "\ncuda=12.1\nlease=held\n"
	start := func(t *testing.T, srun ...string) (string, string) {
		t.Helper()
		argv := append([]string{"-u", User, "--"}, srun...)
		argv = append(argv, "env", "-i", jc+"/bin/python", driver, kernels, "demo", code)
		cmd := exec.Command("runuser", argv...)
		cmd.Dir = f.Dir
		cmd.Env = []string{"SLURM_CONF=" + c.Conf, "PATH=/usr/bin:/bin"} // for srun only: env -i clears it
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("jupyter_client: %v\nstdout: %s\nstderr: %s", err, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T)
		srun    []string
		log     string // a line the kernel's senv printed
		node    string // the node whose stage must hold the env afterwards
	}{
		{"staged", func(*testing.T) {}, nil, "senv: env " + id + " already staged on this node*", ""},
		{"restaged", func(t *testing.T) {
			if err := os.RemoveAll(f.Stage); err != nil {
				t.Fatal(err)
			}
		}, nil, "senv: env " + id + " cache hit, staged *", ""},
		{"on-node2", func(*testing.T) {}, []string{"srun", "-N1", "-w", "node2"}, "senv: env " + id + " cache hit, staged *", "node2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.prepare(t)
			out, log := start(t, tc.srun...)
			if out != want {
				t.Errorf("the kernel printed:\n%s\nwant:\n%s", out, want)
			}
			if !hasLine(log, tc.log) || strings.Contains(log, phraseSolved) || strings.Contains(log, phraseBuilding) {
				t.Errorf("kernel start log lacks %q or solved/built:\n%s", tc.log, log)
			}
			if tc.node != "" {
				if _, done := f.stagedOn(tc.node, id); !exists(done) {
					t.Errorf("the kernel started on %s but the env is not staged there", tc.node)
				}
			}
		})
	}
	// ls shows it, rm removes it
	if stdout, _, _ := c.AsUser(t, f.Env(), senv, "kernel", "ls", "--prefix", prefix); !regexp.MustCompile(`(?m)^demo\s+` + id + `\s`).MatchString(stdout) {
		t.Errorf("senv kernel ls:\n%s", stdout)
	}
	if _, stderr, exit := c.AsUser(t, f.Env(), senv, "kernel", "rm", "--prefix", prefix, "demo"); exit != 0 || exists(filepath.Join(kernels, "demo")) {
		t.Errorf("senv kernel rm demo: exit %d: %s", exit, stderr)
	}
}
