package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/wrapper"
)

// Hook is what the hook entry points need from the command that runs them.
type Hook struct {
	// Config loads the effective configuration of this process. Hooks call
	// it only once they have work to do: a job without directives must
	// never fail on senv's configuration.
	Config func() (*config.Config, error)
	// Self is the senv binary, re-executed as the job user by the root hooks.
	Self string
	// Logf prints phase lines (the caller prefixes them); nil: quiet.
	Logf func(string, ...any)
	// Progress draws staging progress (see wrapper.Options); nil: none.
	Progress func(phase string, done, total int64)
	// Output receives the job user's half's stdout and stderr.
	Output io.Writer
	// Settings are the configuration keys this process took from SENV_*
	// variables and global flags, as given; the root hooks pass them on to
	// the job user's half (see Request).
	Settings map[string]string
}

// options are the wrapper options for a job's script: relative paths are
// relative to the submitted script's directory (else the submit dir, else
// the work dir).
func (h Hook) options(cfg *config.Config, command string) wrapper.Options {
	o := wrapper.Options{Config: cfg, Logf: h.Logf}
	switch {
	case command != "":
		o.Dir, o.LockFile = filepath.Dir(command), command+".lock"
	case os.Getenv("SLURM_SUBMIT_DIR") != "":
		o.Dir = os.Getenv("SLURM_SUBMIT_DIR")
	default:
		o.Dir, _ = os.Getwd()
	}
	return o
}

func (h Hook) logf(format string, args ...any) {
	if h.Logf != nil {
		h.Logf(format, args...)
	}
}

// TaskProlog returns the TaskProlog protocol lines (export, unset, print)
// that activate job jobID's env, staging it on this node (and building it
// if no job has yet). It runs as the job user. A job without directives,
// or rendered by `senv sbatch`, gets no lines. Errors are the spec's or the
// build's; the caller prints them as "print" lines.
func (h Hook) TaskProlog(ctx context.Context, jobID string) ([]string, error) {
	script, err := JobScript(ctx, jobID)
	if err != nil {
		return nil, nil // an interactive allocation has no batch script: nothing to do
	}
	if !MayHaveSpec(script) {
		return nil, nil // the common case: one scontrol call and nothing else
	}
	command := JobCommand(ctx, jobID)
	name := command
	if name == "" {
		name = "job " + jobID
	}
	if _, rendered := RenderedEnvID(script); rendered {
		return nil, nil // a `senv sbatch` script activates itself
	}
	s, err := jobspec.Parse(bytes.NewReader(script), name)
	if err != nil {
		return nil, err
	}
	if s.Env.Empty() {
		return nil, nil
	}
	cfg, err := h.Config()
	if err != nil {
		return nil, err
	}
	p, err := wrapper.Prepare(ctx, &s.Env, h.options(cfg, command))
	if err != nil {
		return nil, err
	}
	changed, removed, err := p.EnvChanges(ctx)
	if err != nil {
		return nil, err
	}
	lines, warnings := wrapper.TaskPrologLines(changed, removed)
	for _, w := range warnings {
		lines = append(lines, "print senv: warning: "+w)
	}
	return lines, nil
}

// Prolog is the root half of the Prolog: it validates the job's identity
// (SLURM_JOB_ID, SLURM_JOB_UID, SLURM_JOB_GID), reads its script with
// scontrol and, when the script may ask for an env, runs `senv prolog
// --as-user` as the job user to stage it. It gives up at prolog_timeout.
// The caller logs the error and exits 0: a failing Prolog drains the node.
func (h Hook) Prolog(ctx context.Context) error { return h.root(ctx, "prolog") }

// Epilog is the root half of the Epilog: with epilog_gc set, it runs `senv
// epilog --as-user` as the job user to remove that user's long unused
// staged envs on this node; without it, it does nothing.
func (h Hook) Epilog(ctx context.Context) error { return h.root(ctx, "epilog") }

// root is the privileged half of prolog and epilog: validate the job's
// identity, read what root must read, and run the rest as the job user.
func (h Hook) root(ctx context.Context, name string) error {
	if os.Getenv("PATH") == "" {
		os.Setenv("PATH", HookPath)
	}
	cfg, err := h.Config()
	if err != nil {
		return err
	}
	if name == "epilog" && cfg.EpilogGC == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.PrologTimeout)
	defer cancel()
	jobID, uid, gid := os.Getenv("SLURM_JOB_ID"), os.Getenv("SLURM_JOB_UID"), os.Getenv("SLURM_JOB_GID")
	for _, v := range []string{jobID, uid, gid} {
		if _, err := strconv.ParseUint(v, 10, 32); err != nil {
			return fmt.Errorf("missing or invalid SLURM_JOB_ID/UID/GID (%q, %q, %q)", jobID, uid, gid)
		}
	}
	req := Request{JobID: jobID, Settings: h.Settings}
	if name == "prolog" {
		script, err := JobScript(ctx, jobID)
		if err != nil {
			return err
		}
		if !MayHaveSpec(script) {
			return nil // nothing to stage: the common case costs one scontrol call
		}
		req.Script, req.Command = script, JobCommand(ctx, jobID)
		req.PrivateTmp = PrivateTmp(slurmConf())
	}
	stdin, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("failed to write the request for the job user's half: %w", err)
	}
	return RunAsUser(ctx, h.Self, uid, gid, []string{name, "--as-user"}, stdin, h.Output)
}

// PrologAsUser is the Prolog's unprivileged half: it parses the job script
// of the root half's request and stages its env if the lock and the cache
// entry exist. It never solves and never builds; spec errors are left to
// the job, which reports them in its own log. Under job_container/tmpfs
// (req.PrivateTmp) it stages nothing into /tmp, which is not yet the job's.
// h.Config must apply req.Settings.
func (h Hook) PrologAsUser(ctx context.Context, req *Request) error {
	if req.PrivateTmp && MayHaveSpec(req.Script) {
		cfg, err := h.Config()
		if err != nil {
			return err
		}
		if InPrivateTmp(cfg.StageDir) {
			h.logf("prolog: job %s: not pre-staging: stage_dir %s is in the job's private /tmp (job_container/tmpfs), made after the prolog; the job stages its env itself (a stage_dir outside /tmp and /dev/shm is pre-staged)", req.JobID, cfg.StageDir)
			return nil
		}
	}
	if id, rendered := RenderedEnvID(req.Script); rendered {
		return h.prestageID(ctx, req.JobID, id) // `senv sbatch` pinned the env it built
	}
	s, err := jobspec.Parse(bytes.NewReader(req.Script), "job "+req.JobID)
	if err != nil || s.Env.Empty() {
		return nil // the job itself reports spec errors, in its own log
	}
	cfg, err := h.Config()
	if err != nil {
		return err
	}
	p, err := wrapper.Prestage(ctx, &s.Env, h.options(cfg, req.Command))
	if err != nil {
		return err
	}
	if p != nil {
		h.logf("prolog: job %s: env %s %s", req.JobID, p.ID, p.Outcome)
	}
	return nil
}

// prestageID stages a pinned env from the cache, if it is there.
func (h Hook) prestageID(ctx context.Context, jobID, id string) error {
	if id == "" {
		return nil
	}
	cfg, err := h.Config()
	if err != nil {
		return err
	}
	wd, _ := os.Getwd()
	p, err := wrapper.StageCached(ctx, id, wrapper.Options{Config: cfg, Dir: wd, Logf: h.Logf, Progress: h.Progress}, false)
	if err != nil {
		return err
	}
	h.logf("prolog: job %s: env %s %s", jobID, p.ID, p.Outcome)
	return nil
}

// EpilogAsUser is the Epilog's unprivileged half: it removes the user's
// staged envs on this node that no process holds and that were last used
// longer than epilog_gc ago. With epilog_gc 0 it removes nothing (to
// CollectStaged, 0 means every unused env). h.Config must apply the root
// half's Request.Settings.
func (h Hook) EpilogAsUser() error {
	cfg, err := h.Config()
	if err != nil {
		return err
	}
	if cfg.EpilogGC <= 0 {
		return nil
	}
	return wrapper.CollectStaged(cfg.StageDir, cfg.EpilogGC, h.Logf)
}
