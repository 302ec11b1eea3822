package envs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SlurmJobs is the real Jobs: it asks Slurm once, with squeue, which of
// the user's jobs are alive, and answers from that list. A job that is
// completing counts as ended: its processes are gone or being killed, and
// this is how the job's own epilog may collect what only it used. When
// squeue cannot be asked, every job counts as running. Safe for concurrent
// use.
type SlurmJobs struct {
	// Warn, if not nil, hears once that squeue failed.
	Warn func(string)
	// Ended is a job known to have ended without asking: the job whose
	// epilog this is.
	Ended string
	// AllUsers asks about every user's jobs, not only this user's: root's
	// view, for the mounts that jobs of many users share.
	AllUsers bool
	// Ctx, if not nil, bounds the squeue call too (a hook's deadline): when
	// it ends first, squeue counts as failed.
	Ctx context.Context

	once sync.Once
	live map[string]bool
	err  error
}

// squeueTimeout bounds the one squeue call of a gc.
const squeueTimeout = 30 * time.Second

// Running reports whether job is pending, running or suspended.
func (j *SlurmJobs) Running(job string) bool {
	if job == j.Ended {
		return false
	}
	j.once.Do(j.load)
	if j.err != nil {
		return true
	}
	return j.live[job]
}

func (j *SlurmJobs) load() {
	base := j.Ctx
	if base == nil {
		base = context.Background()
	}
	ctx, cancel := context.WithTimeout(base, squeueTimeout)
	defer cancel()
	// %A is the job ID, unique per array task, as SLURM_JOB_ID is
	args := []string{"--noheader", "--format", "%A %T"}
	if j.AllUsers {
		args = append(args, "--all") // hidden partitions too
	} else {
		args = append(args, "--user", strconv.Itoa(os.Getuid()))
	}
	cmd := exec.CommandContext(ctx, "squeue", args...)
	// the root Epilog calls this: at the deadline the whole group dies (a
	// child that holds stdout too), and the pipes are not waited for long
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		j.err = fmt.Errorf("failed to list jobs with squeue: %w: %s", err, strings.TrimSpace(stderr.String()))
		if j.Warn != nil {
			j.Warn(fmt.Sprintf("%v; envs that Slurm jobs staged are kept", j.err))
		}
		return
	}
	j.live = parseSqueue(out)
}

// parseSqueue reads "JOBID STATE" lines.
func parseSqueue(out []byte) map[string]bool {
	live := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		id, state, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && state != "COMPLETING" && state != "COMPLETED" {
			live[id] = true
		}
	}
	return live
}
