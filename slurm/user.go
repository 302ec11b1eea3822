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
	u, err := user.LookupId(uidStr)
	if err != nil {
		return fmt.Errorf("failed to look up uid %s: %w", uidStr, err)
	}
	uid, _ := strconv.ParseUint(uidStr, 10, 32)
	gid, _ := strconv.ParseUint(gidStr, 10, 32)
	if uid == 0 {
		return fmt.Errorf("refusing to run a hook for a root job")
	}
	var groups []uint32
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				groups = append(groups, uint32(n))
			}
		}
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
	if err := runBounded(ctx, cmd); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("failed to finish the job user's half by the hook deadline (prolog_timeout): %w", err)
		}
		return fmt.Errorf("failed to run the job user's half: %w", err)
	}
	return nil
}
