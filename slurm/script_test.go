package slurm

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/senv-hpc/senv/templates"
)

// TestRenderedEnvID: a script rendered by `senv sbatch` is recognised by
// its injected block, with the env ID it pins when it pins one; other
// scripts are not rendered, whatever they mention.
func TestRenderedEnvID(t *testing.T) {
	render := func(cmd ...string) string {
		block, err := templates.Inject{Version: "test", Command: cmd}.Render()
		if err != nil {
			t.Fatal(err)
		}
		return "#!/bin/bash\n#ENV pip alpha\n" + block + "echo hi\n"
	}
	cases := []struct {
		name, script, id string
		rendered, spec   bool
	}{
		{"plain #ENV script", "#!/bin/bash\n#ENV pip alpha\necho hi\n", "", false, true},
		{"no directives", "#!/bin/bash\necho --env-id 0123456789abcdef \n", "", false, false},
		{"PEP 723", "#!/usr/bin/env python3\n# /// script\n# dependencies = []\n# ///\n", "", false, true},
		{"rendered, pinned", render("/opt/senv", "activate", "--shell", "sh", "--env-id", "0123456789abcdef", "--pip", "x"), "0123456789abcdef", true, true},
		{"rendered, built at job", render("/opt/senv", "activate", "--shell", "sh", "--pip", "x"), "", true, true},
		{"rendered, odd path", render("/opt/my senv's/senv", "activate", "--env-id", "fedcba9876543210", "--pip", "x"), "fedcba9876543210", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, rendered := RenderedEnvID([]byte(tc.script))
			if id != tc.id || rendered != tc.rendered {
				t.Errorf("RenderedEnvID = %q, %v; want %q, %v", id, rendered, tc.id, tc.rendered)
			}
			if got := MayHaveSpec([]byte(tc.script)); got != tc.spec {
				t.Errorf("MayHaveSpec = %v, want %v", got, tc.spec)
			}
		})
	}
}

// TestJobCommandFakeScontrol: the submit path comes from the Command= line
// of `scontrol show job` (faked: the test has no job), spaces and all; a
// --wrap job's relative Command= and a failing scontrol give "".
func TestJobCommandFakeScontrol(t *testing.T) {
	cases := []struct {
		name, output, want string
		fail               bool
	}{
		{"path with spaces", "JobId=7 JobName=job\n   Command=/home/u/my jobs/train.sh\n   Comment=Command=/etc/shadow\n", "/home/u/my jobs/train.sh", false},
		{"wrap job", "JobId=7 JobName=wrap\n   Command=(null)\n", "", false},
		{"relative", "JobId=7\n   Command=train.sh\n", "", false},
		{"scontrol fails", "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			body := "#!/bin/sh\ncat <<'EOF'\n" + tc.output + "EOF\n"
			if tc.fail {
				body = "#!/bin/sh\nexit 1\n"
			}
			writeExec(t, filepath.Join(dir, "scontrol"), body)
			t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
			if got := JobCommand(context.Background(), "7"); got != tc.want {
				t.Errorf("JobCommand = %q, want %q", got, tc.want)
			}
		})
	}
}
