package wrapper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/solver"
	"github.com/senv-hpc/senv/templates"
)

// Options say how to prepare an environment.
type Options struct {
	Config   *config.Config
	Dir      string // directory that relative paths in the spec are relative to
	LockFile string // SCRIPT.lock; used when it exists
	Upgrade  bool   // solve again and record a new lock
	EnvID    string // env pinned by `senv sbatch`; used when the cache has it
	NoSolve  bool   // use only a recorded lock; with none, Resolve returns no lock
	Publish  bool   // make sure the env is in the cache, not only staged here (build, sbatch)
	Logf     func(format string, args ...any)
	Progress func(phase string, done, total int64) // progress of long work, for a terminal bar
	// Installed is called when a build has installed the env, before its
	// pack (see envs.Store.Installed).
	Installed func(id string)
}

// Prepared is an environment ready on this node, and how to activate it.
type Prepared struct {
	Spec       *solver.Spec
	Lock       *solver.Lock // nil for modules-only specs and `use`
	ID         string
	Prefix     string
	Outcome    envs.Outcome
	Activation templates.Activation
	Store      *envs.Store
}

// Plan is the resolved spec and lock, before anything is built.
type Plan struct {
	Spec  *solver.Spec
	Lock  *solver.Lock
	ID    string
	Store *envs.Store
}

// SpecError wraps an error that is the user's to fix (exit code 2).
type SpecError struct{ Err error }

func (e *SpecError) Error() string { return e.Err.Error() }
func (e *SpecError) Unwrap() error { return e.Err }

// Resolve canonicalises env and finds or solves its lock. It builds nothing.
func Resolve(ctx context.Context, env *jobspec.Env, o Options) (*Plan, error) {
	spec, err := solver.Canonicalize(env, o.Dir, o.Config)
	if err != nil {
		return nil, &SpecError{err}
	}
	for _, w := range spec.Warnings {
		o.logf("%s", w)
	}
	p := &Plan{Spec: spec}
	if !spec.NeedsBuild() {
		return p, nil
	}
	if p.Store, err = o.store(env.Stage == "none"); err != nil {
		return nil, err
	}
	if p.Lock, err = o.lock(ctx, spec, p.Store); err != nil || p.Lock == nil {
		return p, err
	}
	p.ID = p.Lock.EnvID()
	return p, nil
}

// Prepare resolves env, makes it ready on this node, and takes a lease on
// it that lasts as long as this process and whatever it execs.
func Prepare(ctx context.Context, env *jobspec.Env, o Options) (*Prepared, error) {
	act := templates.Activation{ModuleInit: o.Config.ModuleInit}
	for _, kv := range env.SetEnv {
		name, value, _ := strings.Cut(kv, "=")
		act.SetEnv = append(act.SetEnv, templates.Var{Name: name, Value: value})
	}
	if o.EnvID != "" {
		if p, err := o.preparePinned(ctx, env, act); p != nil || err != nil {
			return p, err
		}
	}
	plan, err := Resolve(ctx, env, o)
	if err != nil {
		return nil, err
	}
	act.Modules = plan.Spec.Modules
	act.Variables = specVariables(plan.Spec)
	p := &Prepared{Spec: plan.Spec, Lock: plan.Lock, ID: plan.ID, Activation: act, Store: plan.Store}
	if plan.Spec.Use != "" {
		if err := p.use(ctx, o.Config); err != nil {
			return nil, err
		}
		return p, nil
	}
	if !plan.Spec.NeedsBuild() {
		return p, nil
	}
	if err := p.ensure(ctx, o, env.Name); err != nil {
		return nil, err
	}
	return p, nil
}

// preparePinned uses the env `senv sbatch` built, straight from its cache
// entry: no spec files are read and nothing is solved at job start. An
// entry still being packed (senv sbatch submits first) is waited for; it
// returns nil, nil when the entry is gone (collected), to fall back.
func (o Options) preparePinned(ctx context.Context, env *jobspec.Env, act templates.Activation) (*Prepared, error) {
	store, err := o.store(env.Stage == "none")
	if err != nil {
		return nil, err
	}
	if !store.Stage.Ready(o.EnvID) && !store.Has(o.EnvID) && !store.AwaitBuild(o.EnvID) {
		return nil, nil
	}
	meta, err := store.Meta(o.EnvID)
	if err != nil {
		return nil, nil
	}
	p := &Prepared{ID: o.EnvID, Spec: meta.Spec, Store: store, Activation: act}
	if meta.Spec != nil {
		p.Activation.Modules = meta.Spec.Modules
		p.Activation.Variables = specVariables(meta.Spec)
	}
	if err := p.stage(ctx, o, envsJob(o.EnvID)); err != nil {
		return nil, err
	}
	p.Activation.Kind = meta.Kind
	p.activate()
	return p, nil
}

// envsJob is a job that can only be staged from the cache, never built.
func envsJob(id string) envs.Job { return envs.Job{ID: id} }

func (o Options) store(shared bool) (*envs.Store, error) {
	trust, err := envs.NewTrust(o.Config.TrustedOwners)
	if err != nil {
		return nil, err
	}
	cache, err := envs.OpenCache(o.Config.CacheDir, trust)
	if err != nil {
		return nil, err
	}
	stageDir := o.Config.StageDir
	if shared {
		stageDir = SharedStageDir(o.Config)
	}
	stage, err := envs.OpenStage(stageDir, trust)
	if err != nil {
		return nil, err
	}
	stage.Job = os.Getenv("SLURM_JOB_ID") // gc keeps the env while the job runs
	sites, err := OpenSites(o.Config, trust, o.Logf)
	if err != nil {
		return nil, err
	}
	return &envs.Store{Cache: cache, Sites: sites, Stage: stage, Timeout: o.Config.LockTimeout, Logf: o.Logf, NoPack: shared, Progress: o.Progress, Publish: o.Publish, MountDir: o.Config.MountDir, Installed: o.Installed}, nil
}

// lock returns the spec's lock: SCRIPT.lock if there is one, else the one
// the user's cache recorded, else one a site tier recorded (so a spec the
// admins published is not solved again), else a new solve recorded in the
// user's cache for every later job.
func (o Options) lock(ctx context.Context, spec *solver.Spec, store *envs.Store) (*solver.Lock, error) {
	key := spec.Key()
	cache := store.Cache
	if o.LockFile != "" && !o.Upgrade {
		l, err := solver.ReadLockFile(o.LockFile)
		if err != nil {
			return nil, &SpecError{err}
		}
		if l != nil {
			if l.SpecKey != key {
				return nil, &SpecError{fmt.Errorf("%s was written for another spec (key %s, the script's is %s): "+
					"run `senv lock --upgrade` on the script to solve its new spec", o.LockFile, l.SpecKey, key)}
			}
			return l, nil
		}
	}
	if !o.Upgrade {
		if l, err := recordedLock(store, key); err != nil || l != nil || o.NoSolve {
			return l, err
		}
	}
	// One solve per spec key at a time: the others wait and read its lock.
	bl, err := cache.SolveLock(key, o.Config.LockTimeout, func(msg string) { o.logf("%s", msg) })
	if err != nil && !errors.Is(err, envs.ErrNoLocks) {
		return nil, err
	}
	defer bl.Release()
	if err == nil {
		cache.CleanTemp(key) // a crashed solver's half-written lock
	}
	if !o.Upgrade {
		if l, err := recordedLock(store, key); err != nil || l != nil {
			return l, err
		}
	}
	tmp, err := envs.NewScratch("solve", store.Cache.Trust) // swept by the next senv if this one is killed
	if err != nil {
		return nil, err
	}
	defer tmp.Remove()
	start := time.Now()
	l, err := solver.Solve(ctx, spec, o.Config, tmp.Path)
	if err != nil {
		return nil, err
	}
	o.logf("solved spec %s with %s: %d packages in %s", key, l.Tool, l.PackageCount(), time.Since(start).Round(time.Millisecond))
	if err := cache.PublishLock(l, o.Upgrade); err != nil {
		return nil, err
	}
	return l, nil
}

func (o Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// ensure builds or stages the env and fills in its activation.
func (p *Prepared) ensure(ctx context.Context, o Options, name string) error {
	b, err := envs.BackendFor(p.Lock.Manager, o.Config)
	if err != nil {
		return err
	}
	job := envs.Job{ID: p.ID, Lock: p.Lock, Backend: b, Runner: solver.RunnerFor(p.Spec, o.Config),
		Meta: envs.Meta{ID: p.ID, Name: name, Manager: p.Lock.Manager, Kind: b.Kind(), SpecKey: p.Spec.Key(),
			Spec: p.Spec, Tool: p.Lock.Tool, Created: time.Now().UTC()}}
	job.Meta.Prefix = p.Store.Stage.Prefix(p.ID)
	if err := p.stage(ctx, o, job); err != nil {
		return err
	}
	p.Activation.Kind = b.Kind()
	p.activate()
	return nil
}

// activate points the activation at where the env is: a staged env is
// leased and checked (its marker) by the activation; a mounted image is
// leased by the Prolog's job record and stays mounted while the job runs.
func (p *Prepared) activate() {
	p.Activation.Prefix = p.Prefix
	if p.Outcome == envs.Mount {
		p.Activation.Lease, p.Activation.Ready = "", ""
		return
	}
	p.Activation.Lease, p.Activation.Ready = p.Store.Stage.LeasePath(p.ID), p.Store.Stage.ReadyPath(p.ID)
}

// stage takes the lease, then makes sure the env is ready: the lease first,
// so gc cannot remove the env between the check and the exec.
//
// An env whose image the Prolog mounted on this node is used from there.
func (p *Prepared) stage(ctx context.Context, o Options, job envs.Job) error {
	if prefix, ok := p.Store.MountedPrefix(job.ID); ok {
		p.Prefix, p.Outcome = prefix, envs.Mount
		o.logf("env %s mounted at %s (its image, mounted by the Prolog)", job.ID, prefix)
		return nil
	}
	lease, err := p.Store.Stage.Lease(job.ID)
	if err != nil {
		return err
	}
	keepLease(lease)
	if job.Lock == nil && !p.Store.Stage.Ready(job.ID) && !p.Store.Has(job.ID) {
		return fmt.Errorf("failed to stage env %s: not in the cache", job.ID)
	}
	p.Prefix, p.Outcome, err = p.Store.Ensure(ctx, job)
	return err
}

// use activates an existing environment: a path, or conda:NAME.
func (p *Prepared) use(ctx context.Context, cfg *config.Config) error {
	prefix := p.Spec.Use
	if name, ok := strings.CutPrefix(prefix, "conda:"); ok {
		found, err := findCondaEnv(ctx, name, cfg)
		if err != nil {
			return err
		}
		prefix = found
	}
	switch {
	case exists(filepath.Join(prefix, "conda-meta")):
		// before pyvenv.cfg: a conda env's python may be venv-style
		p.Activation.Kind = "conda"
		vars, err := condaStateVariables(prefix)
		if err != nil {
			return err
		}
		p.Activation.Variables = append(vars, p.Activation.Variables...)
	case exists(filepath.Join(prefix, "pyvenv.cfg")):
		p.Activation.Kind = "venv"
	default:
		return &SpecError{fmt.Errorf("#ENV use %s: not a venv (no pyvenv.cfg) or conda env (no conda-meta)", p.Spec.Use)}
	}
	p.Prefix, p.Activation.Prefix = prefix, prefix
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}
