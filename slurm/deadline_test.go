package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/senv-hpc/senv/config"
)

// hungTool is a fake of a hung tool (the real scontrol and senv cannot be
// made to hang here): it starts a grandchild that keeps stdout open, records
// its own pid and the grandchild's in pids, then sleeps.
func hungTool(pids string) string {
	return "#!/bin/sh\nsleep 1000 &\necho $$ $! >>" + pids + "\nsleep 1000\n"
}

// TestPrologDeadlineFakeScontrol: a hung scontrol (or job user's half)
// whose child keeps stdout open must not keep `senv prolog` past
// prolog_timeout: exec.CommandContext kills only the direct child and then
// Wait blocks on the pipe (675 s with a 3 s timeout), and a Prolog over its
// time drains the node. The prolog must return within the deadline plus a
// small margin, with the whole process tree dead.
func TestPrologDeadlineFakeScontrol(t *testing.T) {
	const timeout, margin = time.Second, 2 * time.Second
	cases := []struct {
		name      string
		scontrol  string // the fake scontrol's script; {HUNG} is the hung tool
		self      string // the senv binary the root half re-executes
		needsRoot bool
	}{
		{name: "write batch_script hangs", scontrol: "{HUNG}"},
		{name: "show job hangs", scontrol: "#!/bin/sh\nif [ \"$1\" = write ]; then printf '#!/bin/sh\\n#ENV pip alpha\\n'; exit 0; fi\n{BODY}",
			self: "/bin/true"},
		{name: "the job user's half hangs", scontrol: "#!/bin/sh\nif [ \"$1\" = write ]; then printf '#!/bin/sh\\n#ENV pip alpha\\n'; fi\nexit 0\n",
			self: "{HUNG}", needsRoot: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needsRoot && os.Getuid() != 0 {
				t.Skip("needs root to run the job user's half")
			}
			dir := t.TempDir()
			// the job user's half (nobody) runs the fake and writes pids
			os.Chmod(filepath.Dir(dir), 0o755)
			os.Chmod(dir, 0o777)
			pids := filepath.Join(dir, "pids")
			hung := filepath.Join(dir, "hung")
			writeExec(t, hung, hungTool(pids))
			body := strings.TrimPrefix(hungTool(pids), "#!/bin/sh\n")
			writeExec(t, filepath.Join(dir, "scontrol"), strings.NewReplacer("{HUNG}", hungTool(pids), "{BODY}", body).Replace(tc.scontrol))
			t.Cleanup(func() { killAll(t, pids) })
			t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
			t.Setenv("SLURM_JOB_ID", "7")
			t.Setenv("SLURM_JOB_UID", "65534")
			t.Setenv("SLURM_JOB_GID", "65534")
			self := strings.ReplaceAll(tc.self, "{HUNG}", hung)
			var out bytes.Buffer
			h := Hook{
				Config: func() (*config.Config, error) { return &config.Config{PrologTimeout: timeout}, nil },
				Self:   self,
				Output: &out, // a pipe, as stdout is to a Prolog
			}
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- h.Prolog(context.Background()) }()
			select {
			case err := <-done:
				if took := time.Since(start); err == nil || took > timeout+margin {
					t.Errorf("prolog returned %v after %s, want a deadline error within %s", err, took.Round(time.Millisecond), timeout+margin)
				}
			case <-time.After(timeout + margin):
				t.Fatalf("prolog still running %s after its %s deadline", margin, timeout)
			}
			waitDead(t, pids, 5*time.Second)
		})
	}
}

func writeExec(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

// recorded returns the pids the hung tools wrote.
func recorded(t *testing.T, file string) []int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// alive reports whether pid runs (a zombie does not: nothing reaps
// orphans in some containers).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	return len(rest) > 1 && rest[1] != 'Z'
}

// waitDead polls until every recorded process is dead, for up to limit.
func waitDead(t *testing.T, file string, limit time.Duration) {
	t.Helper()
	pids := recorded(t, file)
	if len(pids) == 0 {
		t.Fatal("the hung tool never ran")
	}
	for deadline := time.Now().Add(limit); ; time.Sleep(50 * time.Millisecond) {
		var left []int
		for _, p := range pids {
			if alive(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes %v still alive %s after the prolog returned", left, limit)
			return
		}
	}
}

// killAll ends what the hung tools left behind when the test fails.
func killAll(t *testing.T, file string) {
	for _, p := range recorded(t, file) {
		if proc, err := os.FindProcess(p); err == nil && alive(p) {
			_ = proc.Kill()
		}
	}
}

// TestCallBoundedBlockingOpen: root's own steps of a hook return at the
// deadline even when they are stuck in a system call that does not see it
// (here, a real open of a FIFO nobody writes, as on a hung filesystem).
func TestCallBoundedBlockingOpen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unblockFIFO(p) })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := callBounded(ctx, func() error {
		f, err := os.Open(p)
		if err == nil {
			f.Close()
		}
		return err
	})
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > 2*time.Second {
		t.Errorf("callBounded returned %v after %s, want the deadline's error after 200 ms", err, took.Round(time.Millisecond))
	}
}

// TestPrologMountPlantedImageMeta_FakeScontrolAndUserHalf: the root half
// of the Prolog mounts the image the job user's half names (both fakes:
// scontrol cannot run here without a job, and the half's answer is the
// point). The site cache's image.json is a FIFO, which a publisher can
// plant: before, root's open of it blocked the Prolog past prolog_timeout
// (the node would be drained); now the image is refused at once and the
// job stages its env itself.
func TestPrologMountPlantedImageMeta_FakeScontrolAndUserHalf(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run the job user's half")
	}
	const id = "0123456789abcdef"
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	site := filepath.Join(dir, "site")
	img := filepath.Join(site, "v1", "envs", id, "image")
	if err := os.MkdirAll(img, 0o755); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(img, "image.json")
	if err := syscall.Mkfifo(meta, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unblockFIFO(meta) })
	writeExec(t, filepath.Join(dir, "scontrol"), "#!/bin/sh\nif [ \"$1\" = write ]; then printf '#!/bin/sh\\n#ENV pip alpha\\n'; fi\nexit 0\n")
	half := filepath.Join(dir, "half")
	writeExec(t, half, "#!/bin/sh\ncat >/dev/null\necho "+id+" >&3\n")
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	t.Setenv("SLURM_JOB_ID", "7")
	t.Setenv("SLURM_JOB_UID", "65534")
	t.Setenv("SLURM_JOB_GID", "65534")
	const timeout = 3 * time.Second
	var log bytes.Buffer
	var mu sync.Mutex
	h := Hook{
		Config: func() (*config.Config, error) {
			return &config.Config{PrologTimeout: timeout, LockTimeout: time.Minute,
				MountDir: filepath.Join(dir, "run"), SiteCache: []string{site}}, nil
		},
		Self:   half,
		Output: io.Discard,
		Logf: func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(&log, format+"\n", args...)
		},
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- h.Prolog(context.Background()) }()
	select {
	case err := <-done:
		mu.Lock()
		defer mu.Unlock()
		if took := time.Since(start); err != nil || took > timeout/2 {
			t.Errorf("prolog returned %v after %s, want nil well before its %s deadline", err, took.Round(time.Millisecond), timeout)
		}
		if !strings.Contains(log.String(), "not a regular file") || !strings.Contains(log.String(), "stages it itself") {
			t.Errorf("the prolog's log does not say the image was refused and the job stages:\n%s", log.String())
		}
	case <-time.After(timeout + 2*time.Second):
		t.Fatalf("prolog still running 2 s after its %s deadline", timeout)
	}
}

// unblockFIFO opens the FIFO at p for writing, so that a reader stuck
// opening it returns.
func unblockFIFO(p string) {
	if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		f.Close()
	}
}

// TestPrologHungSlurmConf_FakeScontrol: the root half of the Prolog reads
// slurm.conf (is /tmp private to the job?), which may be on NFS. Here it is
// a FIFO nobody writes, as on a hung server: the Prolog still returns at
// prolog_timeout, naming the file, instead of draining the node. scontrol
// is a fake: it cannot run here without a job.
func TestPrologHungSlurmConf_FakeScontrol(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "slurm.conf")
	if err := syscall.Mkfifo(conf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unblockFIFO(conf) })
	writeExec(t, filepath.Join(dir, "scontrol"), "#!/bin/sh\nif [ \"$1\" = write ]; then printf '#!/bin/sh\\n#ENV pip alpha\\n'; fi\nexit 0\n")
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	t.Setenv("SLURM_CONF", conf)
	t.Setenv("SLURM_JOB_ID", "7")
	t.Setenv("SLURM_JOB_UID", "65534")
	t.Setenv("SLURM_JOB_GID", "65534")
	const timeout = 500 * time.Millisecond
	h := Hook{
		Config: func() (*config.Config, error) {
			return &config.Config{PrologTimeout: timeout, LockTimeout: time.Minute}, nil
		},
		Self:   filepath.Join(dir, "never-run"),
		Output: io.Discard,
	}
	done := make(chan error, 1)
	go func() { done <- h.Prolog(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), conf) {
			t.Errorf("prolog returned %v, want the deadline's error naming %s", err, conf)
		}
	case <-time.After(timeout + 3*time.Second):
		t.Fatalf("prolog still running 3 s after its %s deadline", timeout)
	}
}
