package slurm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/templates"
)

// filterLua is the cli_filter that docs/hooks.md installs.
const filterLua = "../contrib/slurm/cli_filter.lua"

// harness runs the filter's slurm_cli_pre_submit with the options table given as Lua
// source, with a stand-in for the table the cli_filter/lua plugin provides, and exits 0
// when the filter accepts, 1 when it refuses.
const harness = `
slurm = { SUCCESS = 0, ERROR = -1 }
function slurm.log_error(fmt, ...) io.stderr:write("sbatch: error: lua: " .. string.format(fmt, ...) .. "\n") end
dofile(arg[1])
local rc = slurm_cli_pre_submit(%OPTIONS%, 0)
os.exit(rc == slurm.SUCCESS and 0 or 1)
`

// TestCliFilterLua drives contrib/slurm/cli_filter.lua with a Lua interpreter (the real
// cli_filter/lua plugin needs a Slurm cluster: e2e TestSiteProfile) and a fake senv that
// records its arguments and exits as told: which scripts it checks, how the script's path
// reaches senv, what refuses a submission and what fails open.
func TestCliFilterLua(t *testing.T) {
	lua := ""
	for _, name := range []string{"lua5.1", "lua5.3", "lua5.4", "lua"} {
		if p, err := exec.LookPath(name); err == nil {
			lua = p
			break
		}
	}
	if lua == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no lua interpreter (Lmod's dependency) on PATH")
		}
		t.Skip("no lua interpreter on PATH")
	}
	src, err := os.ReadFile(filterLua)
	if err != nil {
		t.Fatal(err)
	}
	const envScript = "#!/bin/bash\n#SBATCH -N1\n#ENV pip numpy\npython x.py\n"
	cases := []struct {
		name     string
		mode     string // the filter's mode; "" keeps "check"
		script   string // the script's content; its file name is file
		file     string
		options  string // Lua table; {SCRIPT} is the script's path
		status   string // the fake senv's exit status, or "sleep" to outlast the timeout
		senv     string // "missing": no senv at the filter's path
		accept   bool
		wantArgs string // the fake's arguments, one per line; "" when it must not run
		stderr   []string
	}{
		{name: "bad spec refused", script: envScript, status: "2", accept: false,
			wantArgs: "check\n--\n{SCRIPT}", stderr: []string{"{SCRIPT}:3: #ENV pip: fake error", "sbatch: error: lua: senv: {SCRIPT} was not submitted"}},
		{name: "good spec accepted", script: envScript, status: "0", accept: true, wantArgs: "check\n--\n{SCRIPT}"},
		{name: "quotes and substitutions stay one word", script: envScript, file: `it's $(touch PWNED) "x" ` + "`touch PWNED`.sh",
			status: "0", accept: true, wantArgs: "check\n--\n{SCRIPT}"},
		{name: "no #ENV lines not checked", script: "#!/bin/bash\n# ENV x\necho '#ENV pip x'\n", status: "2", accept: true},
		{name: "rendered by senv sbatch not checked", script: envScript + templates.InjectMarker + "\n", status: "2", accept: true},
		{name: "PEP 723 script checked", script: "#!/usr/bin/env python3\n# /// script\n# dependencies = [\"x\"]\n# ///\n", status: "2",
			accept: false, wantArgs: "check\n--\n{SCRIPT}"},
		{name: "wrap not checked", script: envScript, options: `{ type = "sbatch", wrap = "hostname", argv = {} }`, status: "2", accept: true},
		{name: "stdin not checked", script: envScript, options: `{ type = "sbatch", argv = {} }`, status: "2", accept: true},
		{name: "srun not checked", script: envScript, options: `{ type = "srun", argv = { "{SCRIPT}" } }`, status: "2", accept: true},
		{name: "senv missing fails open", script: envScript, senv: "missing", accept: true, stderr: []string{"is missing: {SCRIPT} submitted without checking"}},
		{name: "senv failing fails open", script: envScript, status: "127", accept: true,
			wantArgs: "check\n--\n{SCRIPT}", stderr: []string{"could not run (exit 127): {SCRIPT} submitted unchecked"}},
		{name: "check: exit 1 fails open", script: envScript, status: "1", accept: true, wantArgs: "check\n--\n{SCRIPT}"},
		{name: "timeout fails open", script: envScript, status: "sleep", accept: true,
			wantArgs: "check\n--\n{SCRIPT}", stderr: []string{"took longer than 1s: {SCRIPT} submitted unchecked"}},
		{name: "solve mode", mode: "solve", script: envScript, status: "0", accept: true, wantArgs: "check\n--solve\n--\n{SCRIPT}"},
		{name: "build mode refuses an env that cannot be made", mode: "build", script: envScript, status: "1", accept: false,
			wantArgs: "build\n--\n{SCRIPT}", stderr: []string{"{SCRIPT}:3: #ENV pip: fake error"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := tc.file
			if file == "" {
				file = "job.sh"
			}
			script := filepath.Join(dir, file)
			writeExec(t, script, tc.script)
			argsFile := filepath.Join(dir, "args")
			senv := filepath.Join(dir, "senv")
			body := "#!/bin/sh\nprintf '%s\\n' \"$@\" >" + argsFile + "\n"
			if tc.status == "sleep" {
				body += "exec sleep 5\n"
			} else {
				body += "for last; do :; done\necho 'id-on-stdout'\necho \"$last:3: #ENV pip: fake error\" >&2\nexit " + tc.status + "\n"
			}
			if tc.senv != "missing" {
				writeExec(t, senv, body)
			}
			filter := strings.Replace(string(src), `local senv = "/usr/local/bin/senv"`, `local senv = "`+senv+`"`, 1)
			filter = strings.Replace(filter, `local timeout_s = 60`, `local timeout_s = 1`, 1)
			if tc.mode != "" {
				filter = strings.Replace(filter, `local mode = "check"`, `local mode = "`+tc.mode+`"`, 1)
			}
			if filter == string(src) {
				t.Fatalf("%s: no `local senv = \"/usr/local/bin/senv\"` line", filterLua)
			}
			writeExec(t, filepath.Join(dir, "cli_filter.lua"), filter)
			options := tc.options
			if options == "" {
				options = `{ type = "sbatch", argv = { "{SCRIPT}" } }`
			}
			luaQuoted := "[==[" + script + "]==]"
			writeExec(t, filepath.Join(dir, "harness.lua"), strings.ReplaceAll(strings.Replace(harness, "%OPTIONS%", options, 1), `"{SCRIPT}"`, luaQuoted))
			cmd := exec.Command(lua, filepath.Join(dir, "harness.lua"), filepath.Join(dir, "cli_filter.lua"))
			cmd.Dir = dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if accepted := err == nil; accepted != tc.accept {
				t.Errorf("accepted = %v (%v), want %v; stderr:\n%s", accepted, err, tc.accept, stderr.String())
			}
			args, _ := os.ReadFile(argsFile)
			if want := strings.ReplaceAll(tc.wantArgs, "{SCRIPT}", script); strings.TrimSuffix(string(args), "\n") != want {
				t.Errorf("senv ran with %q, want %q", args, want)
			}
			for _, w := range tc.stderr {
				if w = strings.ReplaceAll(w, "{SCRIPT}", script); !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if strings.Contains(stderr.String(), "id-on-stdout") && tc.mode == "build" {
				t.Errorf("senv build's stdout (the env ID) reached the user:\n%s", stderr.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
				t.Errorf("the script's name ran as shell code")
			}
		})
	}
}
