package slurm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// InBatchStep reports whether this process is a multi-node job's batch
// script (SLURM_JOB_ID set, no step yet) and returns the node count.
func InBatchStep() (int, bool) {
	if os.Getenv("SLURM_JOB_ID") == "" || os.Getenv("SLURM_STEP_ID") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(os.Getenv("SLURM_JOB_NUM_NODES"))
	return n, err == nil && n > 1
}

// StageOnNodes stages env id on every node of the job, once per node, before
// the payload's tasks start there: one `srun` step with one task per node,
// each running `senv stage ID`. The node running the batch script has it
// already and returns at once. Its output goes to stderr: stdout may be
// captured for eval.
func StageOnNodes(ctx context.Context, self, id string, shared bool, logf func(string, ...any)) error {
	n, ok := InBatchStep()
	if !ok || id == "" {
		return nil
	}
	start := time.Now()
	args := []string{"--overlap", "--nodes=" + strconv.Itoa(n), "--ntasks=" + strconv.Itoa(n), "--ntasks-per-node=1",
		"--kill-on-bad-exit=1", "--job-name=senv-stage", self, "stage"}
	if shared {
		args = append(args, "--shared")
	}
	cmd := exec.CommandContext(ctx, "srun", append(args, id)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("failed to stage env %s on the job's %d nodes: %w", id, n, err)
	}
	if logf != nil {
		logf("env %s staged on all %d nodes in %s", id, n, time.Since(start).Round(time.Millisecond))
	}
	return nil
}
