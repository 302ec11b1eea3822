package slurm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	senvBin   string
	buildErr  error
)

// TestMain removes the senv binary that senvBinary built, if any.
func TestMain(m *testing.M) {
	defer func() {
		if senvBin != "" && buildErr == nil {
			os.RemoveAll(filepath.Dir(senvBin))
		}
	}()
	m.Run() // since Go 1.15 the test binary exits with its status
}

// senvBinary builds ./cmd/senv once, world-executable: the root hooks
// re-execute it as another user.
func senvBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		var dir string
		if dir, buildErr = os.MkdirTemp("", "senv-slurm-test-"); buildErr != nil {
			return
		}
		os.Chmod(dir, 0o755)
		senvBin = filepath.Join(dir, "senv")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", senvBin, "./cmd/senv")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err
			senvBin = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("failed to build senv: %v\n%s", buildErr, senvBin)
	}
	return senvBin
}

// stageEnv fakes an env staged in stage (owned by uid), last used at used.
func stageEnv(t *testing.T, stage, id string, used time.Time) {
	t.Helper()
	for _, d := range []string{filepath.Join(stage, id, "bin"), filepath.Join(stage, ".senv")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{id + ".done", id + ".lease"} {
		if err := os.WriteFile(filepath.Join(stage, ".senv", f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(filepath.Join(stage, ".senv", id+".lease"), used, used); err != nil {
		t.Fatal(err)
	}
}

// TestEpilogUserHalfConfig: the Epilog's job user half runs in a cleared
// environment, so settings root took from SENV_* variables or global flags
// never reached it: with SENV_EPILOG_GC=168h set for root, the half saw
// epilog_gc 0 and removed an env used 14 minutes earlier as unused. The
// half must act on root's configuration: here it keeps the env used 14
// minutes ago and removes the one unused for 2 hours. Values are passed as
// given ({uid} expands to the job user's uid, not root's).
func TestEpilogUserHalfConfig(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: the epilog drops to another user (nobody)")
	}
	const uid, recent, old = "65534", "1111111111111111", "2222222222222222"
	cases := []struct {
		name string
		file string   // the config file, {DIR} replaced
		env  []string // root's SENV_* variables
		args []string // root's global flags
	}{
		{name: "epilog_gc from SENV_EPILOG_GC", file: "stage_dir = \"{DIR}/stage-{uid}\"\n", env: []string{"SENV_EPILOG_GC=1h"}},
		{name: "stage_dir from SENV_STAGE_DIR", env: []string{"SENV_EPILOG_GC=1h", "SENV_STAGE_DIR={DIR}/stage-{uid}"}},
		{name: "stage_dir from --stage-dir", env: []string{"SENV_EPILOG_GC=1h"}, args: []string{"--stage-dir", "{DIR}/stage-{uid}"}},
		{name: "both from the config file", file: "stage_dir = \"{DIR}/stage-{uid}\"\nepilog_gc = \"1h\"\n"},
	}
	self := senvBinary(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.Chmod(filepath.Dir(dir), 0o755)
			os.Chmod(dir, 0o755)
			expand := strings.NewReplacer("{DIR}", dir).Replace
			conf := filepath.Join(dir, "senv.toml")
			if err := os.WriteFile(conf, []byte(expand(tc.file)), 0o644); err != nil {
				t.Fatal(err)
			}
			stage := filepath.Join(dir, "stage-"+uid)
			stageEnv(t, stage, recent, time.Now().Add(-14*time.Minute))
			stageEnv(t, stage, old, time.Now().Add(-2*time.Hour))
			if out, err := exec.Command("chown", "-R", uid+":"+uid, stage).CombinedOutput(); err != nil {
				t.Fatalf("chown: %v %s", err, out)
			}
			var args []string
			for _, a := range tc.args {
				args = append(args, expand(a))
			}
			cmd := exec.Command(self, append(args, "epilog")...)
			// what slurmd gives an Epilog: no PATH, no HOME
			cmd.Env = []string{"SLURM_JOB_ID=7", "SLURM_JOB_UID=" + uid, "SLURM_JOB_GID=" + uid, "SENV_CONFIG=" + conf}
			for _, e := range tc.env {
				cmd.Env = append(cmd.Env, expand(e))
			}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("senv epilog: %v\n%s", err, out.String())
			}
			if _, err := os.Stat(filepath.Join(stage, recent)); err != nil {
				t.Errorf("the env used 14 minutes ago was removed (epilog_gc 1h)\n%s", out.String())
			}
			if _, err := os.Stat(filepath.Join(stage, old)); err == nil {
				t.Errorf("the env unused for 2 hours is still there (epilog_gc 1h)\n%s", out.String())
			}
		})
	}
}
