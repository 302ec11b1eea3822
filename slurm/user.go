package slurm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
	"time"
)

// HookPath is the PATH hooks use to find Slurm's tools: Prolog and Epilog
// run with no PATH at all.
const HookPath = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"

// RunAsUser runs the binary self with args as the job user: its uid,
// primary gid and supplementary groups, in a cleared environment with its
// own HOME, from "/". Nothing of root's environment but SENV_CONFIG and the
// job's SLURM_JOB_ID and SLURMD_NODENAME reaches it. stdin is its standard
// input; out receives its stdout and stderr. It refuses uid 0. At ctx's
// deadline the child and everything it started are killed, and not waited
// for (see runBounded).
func RunAsUser(ctx context.Context, self, uidStr, gidStr string, args []string, stdin []byte, out io.Writer) error {
	_, err := runAsUser(ctx, self, uidStr, gidStr, args, stdin, out, false)
	return err
}

// runAsUser is RunAsUser; with reply, the half also gets a pipe on
// descriptor ReplyFD, and what it writes there (at most maxReply bytes) is
// returned.
func runAsUser(ctx context.Context, self, uidStr, gidStr string, args []string, stdin []byte, out io.Writer, reply bool) ([]byte, error) {
	uid, _ := strconv.ParseUint(uidStr, 10, 32)
	gid, _ := strconv.ParseUint(gidStr, 10, 32)
	if uid == 0 {
		return nil, fmt.Errorf("refusing to run a hook for a root job")
	}
	// the user database may be LDAP or sssd behind the network: a lookup
	// that hangs must not hold the hook past its deadline
	var u *user.User
	var groups []uint32
	err := callBounded(ctx, func() error {
		var err error
		if u, err = user.LookupId(uidStr); err != nil {
			return err
		}
		if ids, err := u.GroupIds(); err == nil {
			for _, g := range ids {
				if n, err := strconv.ParseUint(g, 10, 32); err == nil {
					groups = append(groups, uint32(n))
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to look up uid %s: %w", uidStr, err)
	}
	cmd := exec.Command(self, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}}
	cmd.Dir = "/"
	cmd.Env = []string{"HOME=" + u.HomeDir, "USER=" + u.Username, "LOGNAME=" + u.Username, "PATH=" + HookPath}
	for _, k := range []string{"SENV_CONFIG", "SLURM_JOB_ID", "SLURMD_NODENAME"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = out, out
	var r, w *os.File
	if reply {
		if r, w, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("failed to run the job user's half: %w", err)
		}
		defer r.Close()
		cmd.ExtraFiles = []*os.File{w} // descriptor ReplyFD
	}
	err = runBounded(ctx, cmd)
	var answer []byte
	if reply {
		w.Close()
		// a process the half left behind may hold the pipe open: read what is
		// there, for a second at most and not past the hook's deadline
		limit := time.Now().Add(time.Second)
		if d, ok := ctx.Deadline(); ok && d.Before(limit) {
			limit = d
		}
		_ = r.SetReadDeadline(limit)
		answer, _ = io.ReadAll(io.LimitReader(r, maxReply))
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("failed to finish the job user's half by the hook deadline (prolog_timeout): %w", err)
		}
		return nil, fmt.Errorf("failed to run the job user's half: %w", err)
	}
	return answer, nil
}
