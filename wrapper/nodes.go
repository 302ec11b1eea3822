package wrapper

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/jobspec"
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

// StageCached stages env id from the cache onto this node (no solve, no
// build) and returns what it took.
func StageCached(ctx context.Context, id string, o Options, shared bool) (*Prepared, error) {
	store, err := o.store(shared)
	if err != nil {
		return nil, err
	}
	p := &Prepared{ID: id, Store: store}
	if err := p.stage(ctx, o, envsJob(id)); err != nil {
		return nil, err
	}
	return p, nil
}

// SharedStageDir is where `stage none` envs are built and run, in the cache.
func SharedStageDir(cfg *config.Config) string {
	return filepath.Join(cfg.CacheDir, "v1", "shared")
}

// Prestage stages env's environment onto this node if its lock and cache
// entry already exist; it never solves and never builds. It returns nil when
// there is nothing to stage.
func Prestage(ctx context.Context, env *jobspec.Env, o Options) (*Prepared, error) {
	o.NoSolve = true
	plan, err := Resolve(ctx, env, o)
	if err != nil || plan.Lock == nil || !plan.Store.Has(plan.ID) {
		return nil, err
	}
	return StageCached(ctx, plan.ID, o, plan.Store.NoPack)
}

// CollectStaged removes staged envs in dir (this node's stage_dir) that no
// process and no running Slurm job uses and that were last used more than
// age ago, and the temp dirs that killed senv runs of this user left
// (envs.SweepScratch). It is what the epilog runs: the epilog's own job
// (SLURM_JOB_ID) has ended.
func CollectStaged(dir string, age time.Duration, logf func(string, ...any)) error {
	envs.SweepScratch()
	stage, err := envs.OpenStage(dir, nil)
	if err != nil {
		return err
	}
	jobs := &envs.SlurmJobs{Ended: os.Getenv("SLURM_JOB_ID"), Warn: func(msg string) { logWarning(logf, msg) }}
	return stage.Collect(age, jobs, logf)
}

func logWarning(logf func(string, ...any), msg string) {
	if logf != nil {
		logf("warning: %s", msg)
	}
}
