package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/templates"
	"github.com/senv-hpc/senv/wrapper"
)

// hookPath is the PATH hooks use to find Slurm's tools: Prolog and Epilog
// run with no PATH at all.
const hookPath = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"

// jobScript fetches a job's batch script with scontrol (one RPC).
func jobScript(ctx context.Context, jobID string) ([]byte, error) {
	script, err := exec.CommandContext(ctx, "scontrol", "write", "batch_script", jobID, "-").Output()
	if err != nil {
		return nil, fmt.Errorf("failed to read the batch script of job %s: %w", jobID, err)
	}
	return script, nil
}

// jobCommand returns the path a job was submitted from (Command=), or ""
// for --wrap and stdin jobs. It reads the multi-line form of `scontrol show
// job`, where Command= has a line of its own (paths may hold spaces) and
// comes before any user-set text such as Comment=.
func jobCommand(ctx context.Context, jobID string) string {
	out, err := exec.CommandContext(ctx, "scontrol", "show", "job", jobID).Output()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimLeft(line, " "), "Command="); ok {
			if filepath.IsAbs(v) {
				return v
			}
			return ""
		}
	}
	return ""
}

// hookOptions are the wrapper options for a job's script: relative paths
// are relative to the submitted script's directory (else the work dir).
func hookOptions(c *cli.Context, command string) (wrapper.Options, error) {
	cfg, err := loadConfig(c, nil)
	if err != nil {
		return wrapper.Options{}, err
	}
	o := wrapper.Options{Config: cfg, Logf: logger(c)}
	switch {
	case command != "":
		o.Dir, o.LockFile = filepath.Dir(command), command+".lock"
	case os.Getenv("SLURM_SUBMIT_DIR") != "":
		o.Dir = os.Getenv("SLURM_SUBMIT_DIR")
	default:
		o.Dir, _ = os.Getwd()
	}
	return o, nil
}

func taskPrologCommand() *cli.Command {
	return &cli.Command{
		Name:  "task-prolog",
		Usage: "Slurm TaskProlog entry point: stage the job's env, print export lines",
		Description: `For TaskProlog= in slurm.conf, or srun --task-prolog=. Runs as the job user
before every task: reads the job's #ENV directives (scontrol write
batch_script), makes sure the env is staged on this node, and prints only
Slurm's protocol lines on stdout: "export NAME=value", "unset NAME", and
"print ..." for messages that belong in the job's output. A value holding a
newline is never printed. On a spec error the task fails with the message
in its output.

Example (slurm.conf; see docs/hooks.md):
   TaskProlog=/usr/local/bin/senv-task-prolog   # a script: exec senv task-prolog
   srun --task-prolog=/usr/local/bin/senv-task-prolog python train.py`,
		Action: func(c *cli.Context) error {
			jobID := os.Getenv("SLURM_JOB_ID")
			if jobID == "" {
				return usagef("senv task-prolog runs inside a Slurm job (SLURM_JOB_ID is not set)")
			}
			lines, err := taskProlog(c, jobID)
			out := c.App.Writer
			for _, l := range lines {
				fmt.Fprintln(out, l)
			}
			if err != nil {
				msgs, code := errorLines(err)
				for _, l := range msgs {
					if !strings.HasPrefix(l, "senv:") {
						l = "senv: " + l // job logs mix our lines with the payload's
					}
					fmt.Fprintln(out, "print "+l)
				}
				return cli.Exit("", code)
			}
			return nil
		},
	}
}

// taskProlog returns the protocol lines for a job's env.
func taskProlog(c *cli.Context, jobID string) ([]string, error) {
	script, err := jobScript(c.Context, jobID)
	if err != nil {
		return nil, nil // an interactive allocation has no batch script: nothing to do
	}
	if !mayHaveSpec(script) {
		return nil, nil // the common case: one scontrol call and nothing else
	}
	command := jobCommand(c.Context, jobID)
	name := command
	if name == "" {
		name = "job " + jobID
	}
	if _, rendered := renderedEnvID(script); rendered {
		return nil, nil // a `senv sbatch` script activates itself
	}
	s, err := jobspec.Parse(bytes.NewReader(script), name)
	if err != nil {
		return nil, err
	}
	if s.Env.Empty() {
		return nil, nil
	}
	o, err := hookOptions(c, command)
	if err != nil {
		return nil, err
	}
	p, err := wrapper.Prepare(c.Context, &s.Env, o)
	if err != nil {
		return nil, err
	}
	changed, removed, err := p.EnvChanges(c.Context)
	if err != nil {
		return nil, err
	}
	lines, warnings := wrapper.TaskPrologLines(changed, removed)
	for _, w := range warnings {
		lines = append(lines, "print senv: warning: "+w)
	}
	return lines, nil
}

func prologCommand() *cli.Command {
	return &cli.Command{
		Name:  "prolog",
		Usage: "Slurm Prolog entry point (root): pre-stage the job's env as the job user",
		Description: `For Prolog= in slurm.conf (with PrologFlags=Alloc). Runs as root: reads the
job's script with scontrol, then drops to the job user (setgroups, setgid,
setuid, cleared environment) before any user path is touched, and stages the
job's env onto this node if the cache already has it. It never builds and
never solves. It always exits 0 (a non-zero Prolog drains the node) and
gives up at prolog_timeout.

Example (slurm.conf; see docs/hooks.md):
   Prolog=/usr/local/sbin/senv-prolog           # a script: exec senv prolog
   PrologFlags=Alloc`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "as-user", Hidden: true, Usage: "internal: the unprivileged half"}},
		Action: func(c *cli.Context) error {
			if c.Bool("as-user") {
				return prestageAsUser(c)
			}
			if err := rootHook(c, "prolog"); err != nil {
				logf("prolog: job %s: %v", os.Getenv("SLURM_JOB_ID"), err)
			}
			return nil // never drain the node for a user's mistake
		},
	}
}

func epilogCommand() *cli.Command {
	return &cli.Command{
		Name:  "epilog",
		Usage: "Slurm Epilog entry point (root): optional cleanup of the job user's staged envs",
		Description: `For Epilog= in slurm.conf. When epilog_gc is set (e.g. "168h"), drops to the
job user and removes that user's staged envs on this node that no process
uses and that were last used longer ago. Always exits 0.

Example (slurm.conf, and epilog_gc = "168h" in /etc/senv/config.toml):
   Epilog=/usr/local/sbin/senv-epilog           # a script: exec senv epilog`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "as-user", Hidden: true, Usage: "internal: the unprivileged half"}},
		Action: func(c *cli.Context) error {
			if c.Bool("as-user") {
				return epilogAsUser(c)
			}
			if err := rootHook(c, "epilog"); err != nil {
				logf("epilog: job %s: %v", os.Getenv("SLURM_JOB_ID"), err)
			}
			return nil
		},
	}
}

// rootHook is the privileged half of prolog and epilog: validate the job's
// identity, read what root must read, and run the rest as the job user.
func rootHook(c *cli.Context, name string) error {
	if os.Getenv("PATH") == "" {
		os.Setenv("PATH", hookPath)
	}
	cfg, err := loadConfig(c, nil)
	if err != nil {
		return err
	}
	if name == "epilog" && cfg.EpilogGC == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.Context, cfg.PrologTimeout)
	defer cancel()
	jobID, uid, gid := os.Getenv("SLURM_JOB_ID"), os.Getenv("SLURM_JOB_UID"), os.Getenv("SLURM_JOB_GID")
	for _, v := range []string{jobID, uid, gid} {
		if _, err := strconv.ParseUint(v, 10, 32); err != nil {
			return fmt.Errorf("missing or invalid SLURM_JOB_ID/UID/GID (%q, %q, %q)", jobID, uid, gid)
		}
	}
	var stdin []byte
	args := []string{name, "--as-user"}
	if name == "prolog" {
		script, err := jobScript(ctx, jobID)
		if err != nil {
			return err
		}
		if !mayHaveSpec(script) {
			return nil // nothing to stage: the common case costs one scontrol call
		}
		stdin = script
		os.Setenv("SENV_HOOK_COMMAND", jobCommand(ctx, jobID))
	}
	return runAsUser(ctx, uid, gid, args, stdin)
}

// runAsUser re-runs senv as the job user: its uid, primary gid and
// supplementary groups, in a cleared environment with its own HOME, from
// "/". Nothing of root's environment but SENV_CONFIG reaches it.
func runAsUser(ctx context.Context, uidStr, gidStr string, args []string, stdin []byte) error {
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
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("failed to find the senv binary: %w", err)
	}
	cmd := exec.Command(self, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}}
	cmd.Dir = "/"
	cmd.Env = []string{"HOME=" + u.HomeDir, "USER=" + u.Username, "LOGNAME=" + u.Username, "PATH=" + hookPath}
	for _, k := range []string{"SENV_CONFIG", "SLURM_JOB_ID", "SENV_HOOK_COMMAND", "SLURMD_NODENAME"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("failed to start the unprivileged half: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("unprivileged half failed: %w", err)
		}
		return nil
	case <-ctx.Done():
		// a hard deadline: a child stuck on a hung filesystem is killed and
		// not waited for, so the prolog still returns in time
		_ = cmd.Process.Kill()
		return fmt.Errorf("gave up at the hook deadline: %w", ctx.Err())
	}
}

// prestageAsUser is the prolog's unprivileged half: parse the script from
// stdin and stage its env if the cache has it.
func prestageAsUser(c *cli.Context) error {
	if os.Getuid() == 0 {
		return usagef("senv prolog --as-user must not run as root")
	}
	script, err := io.ReadAll(io.LimitReader(os.Stdin, jobspec.MaxScriptSize+1))
	if err != nil {
		return err
	}
	command := os.Getenv("SENV_HOOK_COMMAND")
	if id, rendered := renderedEnvID(script); rendered {
		return prestageID(c, id) // `senv sbatch` pinned the env it built
	}
	s, err := jobspec.Parse(bytes.NewReader(script), "job "+os.Getenv("SLURM_JOB_ID"))
	if err != nil || s.Env.Empty() {
		return nil // the job itself reports spec errors, in its own log
	}
	o, err := hookOptions(c, command)
	if err != nil {
		return err
	}
	p, err := wrapper.Prestage(c.Context, &s.Env, o)
	if err != nil {
		return err
	}
	if p != nil {
		logf("prolog: job %s: env %s %s", os.Getenv("SLURM_JOB_ID"), p.ID, p.Outcome)
	}
	return nil
}

// mayHaveSpec is a cheap first look at a job script: can it ask for an env?
func mayHaveSpec(script []byte) bool {
	return bytes.Contains(script, []byte("#ENV")) || bytes.Contains(script, []byte("# /// script")) ||
		bytes.Contains(script, []byte(templates.InjectMarker))
}

// renderedEnvID recognises a script rendered by `senv sbatch` (it carries
// its own activation) and returns the env ID it pins, if any.
func renderedEnvID(script []byte) (string, bool) {
	if !bytes.Contains(script, []byte(templates.InjectMarker)) {
		return "", false
	}
	if m := envIDRe.FindSubmatch(script); m != nil {
		return string(m[1]), true
	}
	return "", true
}

var envIDRe = regexp.MustCompile(`\bsenv_activation=\$\(.* --env-id ([0-9a-f]{16}) `)

// prestageID stages a pinned env from the cache, if it is there.
func prestageID(c *cli.Context, id string) error {
	if id == "" {
		return nil
	}
	cfg, err := loadConfig(c, nil)
	if err != nil {
		return err
	}
	o := flagsOptions(c, cfg)
	p, err := wrapper.StageCached(c.Context, id, o, false)
	if err != nil {
		return err
	}
	logf("prolog: job %s: env %s %s", os.Getenv("SLURM_JOB_ID"), p.ID, p.Outcome)
	return nil
}

// epilogAsUser removes the user's staged envs unused for epilog_gc.
func epilogAsUser(c *cli.Context) error {
	if os.Getuid() == 0 {
		return usagef("senv epilog --as-user must not run as root")
	}
	cfg, err := loadConfig(c, nil)
	if err != nil {
		return err
	}
	return wrapper.CollectStaged(cfg.StageDir, cfg.EpilogGC, logger(c))
}
