package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/slurm"
)

// hook returns the Slurm hooks wired to this invocation: its config (with
// extra applied), its own binary (the root hooks re-execute it as the job
// user), the settings its environment and flags make (passed on to the job
// user's half, whose environment is cleared) and its output.
func hook(c *cli.Context, extra map[string]string) slurm.Hook {
	self, _ := os.Executable() // "" fails at the re-exec, with its error
	settings := config.EnvSettings(os.Getenv)
	for k, v := range globalSettings(c) {
		settings[k] = v
	}
	return slurm.Hook{
		Config:   func() (*config.Config, error) { return loadConfig(c, extra) },
		Self:     self,
		Logf:     logger(c),
		Progress: progressBar(c),
		Output:   stderr,
		Settings: settings,
	}
}

// asUser runs a hook's job user half: it reads the root half's request and
// takes root's settings.
func asUser(c *cli.Context, name string, run func(slurm.Hook, *slurm.Request) error) error {
	if os.Getuid() == 0 {
		return usagef("senv %s --as-user must not run as root", name)
	}
	req, err := slurm.ReadRequest(os.Stdin)
	if err != nil {
		return err
	}
	return run(hook(c, req.Settings), req)
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
			lines, err := hook(c, nil).TaskProlog(c.Context, jobID)
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

Under JobContainerType=job_container/tmpfs the job's private /tmp is made
after the Prolog: with a stage_dir in /tmp it stages nothing (the job
stages its env itself); a stage_dir on local scratch outside /tmp is
pre-staged.

Examples (slurm.conf and /etc/senv/config.toml; see docs/hooks.md):
   Prolog=/usr/local/sbin/senv-prolog           # a script: exec senv prolog
   PrologFlags=Alloc                            # Contain with job_container/tmpfs
   stage_dir = "/localscratch/senv-{uid}"       # pre-staged, kept across jobs on the node
   stage_dir = "/localscratch/{user}.{jobid}/senv"  # in the job's SLURM_TMPDIR (the site's Prolog makes it first)`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "as-user", Hidden: true, Usage: "internal: the unprivileged half"}},
		Action: func(c *cli.Context) error {
			if c.Bool("as-user") {
				return asUser(c, "prolog", func(h slurm.Hook, req *slurm.Request) error { return h.PrologAsUser(c.Context, req) })
			}
			if err := hook(c, nil).Prolog(c.Context); err != nil {
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
				return asUser(c, "epilog", func(h slurm.Hook, _ *slurm.Request) error { return h.EpilogAsUser() })
			}
			if err := hook(c, nil).Epilog(c.Context); err != nil {
				logf("epilog: job %s: %v", os.Getenv("SLURM_JOB_ID"), err)
			}
			return nil
		},
	}
}
