package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/wrapper"
	"golang.org/x/sys/unix"
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
	ctx, cancel := context.WithTimeout(ctx, cfg.PrologTimeout)
	defer cancel()
	jobID, uid, gid := os.Getenv("SLURM_JOB_ID"), os.Getenv("SLURM_JOB_UID"), os.Getenv("SLURM_JOB_GID")
	if name == "epilog" {
		// root's own work first: the images this job leased (mount_dir is root's)
		if _, err := strconv.ParseUint(jobID, 10, 32); err == nil {
			release := func() error { return wrapper.ReleaseMounts(ctx, cfg, jobID, h.prefixed("epilog: job "+jobID+": ")) }
			if err := callBounded(ctx, release); err != nil {
				h.logf("epilog: job %s: %v", jobID, err)
			}
		}
		if cfg.EpilogGC == 0 {
			return nil
		}
	}
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
		// slurm.conf may be on NFS (or configless, in /run): bounded too
		if err := callBounded(ctx, func() error { req.PrivateTmp = PrivateTmp(slurmConf()); return nil }); err != nil {
			return fmt.Errorf("gave up reading %s: %w", slurmConf(), err)
		}
		req.Mount = cfg.MountDir != "" && len(cfg.SiteCache) > 0
	}
	stdin, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("failed to write the request for the job user's half: %w", err)
	}
	answer, err := runAsUser(ctx, h.Self, uid, gid, []string{name, "--as-user"}, stdin, h.Output, req.Mount)
	if err != nil || len(answer) == 0 {
		return err
	}
	return h.mount(ctx, cfg, jobID, strings.TrimSpace(string(answer)))
}

// mount mounts, as root, the image of env id that the job user's half
// asked for. The half only names the env: root looks for its image in
// root's own site tiers, and checks it. If it cannot mount, the job stages
// the env itself.
func (h Hook) mount(ctx context.Context, cfg *config.Config, jobID, id string) error {
	logf := h.prefixed("prolog: job " + jobID + ": ")
	var prefix string
	err := callBounded(ctx, func() error {
		var err error
		prefix, err = wrapper.MountImage(ctx, cfg, id, jobID, logf)
		return err
	})
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		h.logf("prolog: job %s: gave up mounting env %s at prolog_timeout (%s); the job stages it itself", jobID, id, cfg.PrologTimeout)
	case err != nil:
		h.logf("prolog: job %s: %v; the job stages env %s itself", jobID, err, id)
	case prefix == "":
		h.logf("prolog: job %s: no site cache of root's has an image of env %s; the job stages it itself", jobID, id)
	}
	return nil
}

// prefixed is h.Logf with prefix before each line; nil if h.Logf is.
func (h Hook) prefixed(prefix string) func(string, ...any) {
	if h.Logf == nil {
		return nil
	}
	return func(format string, args ...any) { h.Logf(prefix+format, args...) }
}

// PrologAsUser is the Prolog's unprivileged half: it parses the job script
// of the root half's request and stages its env if the lock and the cache
// entry exist. It never solves and never builds; spec errors are left to
// the job, which reports them in its own log. When root mounts images
// (req.Mount) and a site tier has one of the env, it stages nothing and
// names the env to root on ReplyFD instead. Under job_container/tmpfs
// (req.PrivateTmp) it stages nothing into /tmp, which is not yet the job's.
// h.Config must apply req.Settings.
func (h Hook) PrologAsUser(ctx context.Context, req *Request) error {
	if !MayHaveSpec(req.Script) {
		return nil
	}
	id, rendered := RenderedEnvID(req.Script) // `senv sbatch` pinned the env it built
	var env *jobspec.Env
	if !rendered {
		s, err := jobspec.Parse(bytes.NewReader(req.Script), "job "+req.JobID)
		if err != nil || s.Env.Empty() {
			return nil // the job itself reports spec errors, in its own log
		}
		env = &s.Env
	}
	cfg, err := h.Config()
	if err != nil {
		return err
	}
	if req.Mount {
		unix.CloseOnExec(ReplyFD) // the tools PlannedID and Prestage run must not hold root's pipe
	}
	if req.Mount && cfg.MountDir != "" {
		if env != nil {
			id = wrapper.PlannedID(ctx, env, h.options(cfg, req.Command))
		}
		if wrapper.MountableImage(cfg, id) {
			h.logf("prolog: job %s: env %s has an image in a site cache: root mounts it", req.JobID, id)
			return reply(id)
		}
	}
	if req.PrivateTmp && InPrivateTmp(cfg.StageDir) {
		h.logf("prolog: job %s: not pre-staging: stage_dir %s is in the job's private /tmp (job_container/tmpfs), made after the prolog; the job stages its env itself (a stage_dir outside /tmp and /dev/shm is pre-staged)", req.JobID, cfg.StageDir)
		return nil
	}
	if rendered {
		return h.prestageID(ctx, req.JobID, id)
	}
	p, err := wrapper.Prestage(ctx, env, h.options(cfg, req.Command))
	if err != nil {
		return err
	}
	if p != nil {
		h.logf("prolog: job %s: env %s %s", req.JobID, p.ID, p.Outcome)
	}
	return nil
}

// reply names env id to the root half, on ReplyFD, which must be the pipe
// root gave (a FIFO).
func reply(id string) error {
	var st unix.Stat_t
	if err := unix.Fstat(ReplyFD, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return fmt.Errorf("failed to answer the root half: descriptor %d is not its pipe", ReplyFD)
	}
	f := os.NewFile(ReplyFD, "reply")
	defer f.Close()
	if _, err := fmt.Fprintln(f, id); err != nil {
		return fmt.Errorf("failed to answer the root half: %w", err)
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
	o := wrapper.Options{Config: cfg, Dir: wd, Logf: h.Logf, Progress: h.Progress}
	ok, err := wrapper.Cached(id, o)
	if err != nil {
		return err
	}
	if !ok { // senv sbatch may still be packing it: the job waits for it
		h.logf("prolog: job %s: env %s is not in the cache yet; the job stages it", jobID, id)
		return nil
	}
	p, err := wrapper.StageCached(ctx, id, o, false)
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
