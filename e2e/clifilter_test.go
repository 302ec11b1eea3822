//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testCliFilter: with contrib/slurm/cli_filter.lua as the cluster's cli_filter, plain
// `sbatch` of a script with a typo in an #ENV line is refused at submit with senv's FILE:LINE
// message and hint, and nothing is queued; a valid script is accepted and runs; a script
// without #ENV lines and --wrap never run senv; a `senv sbatch` job is checked once, by senv
// sbatch; a script name with quotes and $(...) reaches senv as one word; and a missing senv
// lets every job through, with a warning.
func testCliFilter(t *testing.T, f *fixture) {
	c := f.c
	// A config senv refuses: wherever the filter runs senv, its error shows.
	broken := f.write(t, "broken.toml", "no_such_key = 1\n")
	brokenEnv := []string{"SENV_CONFIG=" + broken}
	queued := func() int { return len(jobsAll(t, c)) } // pending, running and finished

	t.Run("TypoRejected", func(t *testing.T) {
		for _, name := range []string{"typo.sh", "it's $(touch PWNED) `touch PWNED2`.sh"} {
			script := f.write(t, name, "#!/bin/bash\n#SBATCH -J typo\n#ENV pyhton 3.11\necho never\n")
			before := queued()
			stdout, stderr, exit := c.AsUser(t, f.Env(), "sbatch", "-D", f.Dir, "-o", filepath.Join(f.Dir, "typo.out"), script)
			if exit == 0 {
				t.Fatalf("sbatch %s: accepted (%s), want it refused at submit", name, stdout)
			}
			for _, want := range []string{script + `:3: #ENV pyhton: unknown key (did you mean "python"?)`, "was not submitted"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("sbatch's stderr lacks %q:\n%s", want, stderr)
				}
			}
			if n := queued(); n != before {
				t.Errorf("%d jobs queued or known before the refused sbatch, %d after", before, n)
			}
			for _, p := range []string{"PWNED", "PWNED2"} {
				if exists(filepath.Join(userHome, p)) || exists(filepath.Join(f.Dir, p)) {
					t.Errorf("the script's name ran as shell code: %s exists", p)
				}
			}
		}
	})
	t.Run("ValidAccepted", func(t *testing.T) {
		script := f.write(t, "valid.sh", "#!/bin/bash\n#ENV pip alpha\n#ENV find-links {WHEELS}\n#ENV no-index\necho ran-ok\n")
		out := filepath.Join(f.Dir, "valid.out")
		j := f.finish(t, c.Submit(t, f.Env(), "-D", f.Dir, "-o", out, script), out, jobTimeout)
		mustComplete(t, j)
		if !hasLine(j.Out, "ran-ok") {
			t.Errorf("the job did not run its payload:\n%s", describe(j))
		}
	})
	t.Run("NoEnvUntouched", func(t *testing.T) {
		script := f.write(t, "plain.sh", "#!/bin/bash\n# ENV is not a directive\necho plain-ok\n")
		for _, args := range [][]string{{script}, {"--wrap", "echo plain-ok"}} {
			out := filepath.Join(f.Dir, "plain.out")
			stdout, stderr, exit := c.AsUser(t, brokenEnv, "sbatch", append([]string{"--parsable", "-D", f.Dir, "-o", out}, args...)...)
			if exit != 0 || strings.Contains(stderr, "senv") {
				t.Fatalf("sbatch %v: exit %d, stderr:\n%s\nwant it accepted without running senv", args, exit, stderr)
			}
			j := f.finish(t, strings.TrimSpace(stdout), out, jobTimeout)
			mustComplete(t, j)
		}
	})
	t.Run("SenvSbatchCheckedOnce", func(t *testing.T) {
		script := f.write(t, "purge.sh", "#!/bin/bash\n#ENV module gcc/12\n#ENV pip alpha\n#ENV find-links {WHEELS}\n#ENV no-index\nmodule purge\necho purged\n")
		out := filepath.Join(f.Dir, "purge.out")
		id, stderr := f.sbatch(t, "-D", f.Dir, "-o", out, script)
		if n := strings.Count(stderr, `warning: "module purge"`); n != 1 {
			t.Errorf("%d warnings about module purge, want 1 (senv sbatch's; the filter leaves its script alone):\n%s", n, stderr)
		}
		mustComplete(t, f.finish(t, id, out, jobTimeout))
	})
	t.Run("MissingSenvFailsOpen", func(t *testing.T) {
		lua := c.Path("etc", "cli_filter.lua")
		orig, err := os.ReadFile(lua)
		must(t, err)
		t.Cleanup(func() { os.WriteFile(lua, orig, 0o644) })
		moved := strings.Replace(string(orig), `local senv = "`+c.Path("bin", "senv")+`"`, `local senv = "/nonexistent/senv"`, 1)
		if moved == string(orig) {
			t.Fatalf("no `local senv = ...` line for %s in %s", c.Path("bin", "senv"), lua)
		}
		must(t, os.WriteFile(lua, []byte(moved), 0o644))
		script := f.write(t, "unchecked.sh", "#!/bin/bash\n#ENV pyhton 3.11\necho unchecked\n")
		stdout, stderr, exit := c.AsUser(t, nil, "sbatch", "--parsable", "-D", f.Dir, "-o", filepath.Join(f.Dir, "unchecked.out"), script)
		if exit != 0 || !strings.Contains(stderr, "/nonexistent/senv is missing") {
			t.Fatalf("sbatch with senv missing: exit %d, stderr:\n%s\nwant it accepted with a warning", exit, stderr)
		}
		c.Wait(t, strings.TrimSpace(stdout), jobTimeout)
	})
}

// jobsAll lists every job slurmctld knows, finished ones too.
func jobsAll(t *testing.T, c *Cluster) []string {
	t.Helper()
	var ids []string
	for _, line := range strings.Split(c.mustSlurm(t, "scontrol", "show", "job", "-o"), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "JobId=") {
			ids = append(ids, f[0])
		}
	}
	return ids
}
