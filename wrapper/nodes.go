package wrapper

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/jobspec"
)

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

// Cached reports whether env id is staged on this node or published in a
// cache tier, without waiting for a build.
func Cached(id string, o Options) (bool, error) {
	store, err := o.store(false)
	if err != nil {
		return false, err
	}
	return store.Stage.Ready(id) || store.Has(id), nil
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

// PlannedID returns the ID of env's environment if its lock exists (it
// never solves), else "".
func PlannedID(ctx context.Context, env *jobspec.Env, o Options) string {
	o.NoSolve = true
	plan, err := Resolve(ctx, env, o)
	if err != nil || plan.Lock == nil {
		return ""
	}
	return plan.ID
}
