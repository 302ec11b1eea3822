package interactive_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/interactive"
	"github.com/senv-hpc/senv/internal/wheelhouse"
)

func TestKernelName(t *testing.T) {
	tests := []struct {
		explicit, label, want string
		bad                   bool
	}{
		{label: "train", want: "senv-train"},
		{label: "My Env+2", want: "senv-my-env-2"},
		{label: "", want: "senv-env"},
		{explicit: "analysis", want: "analysis"},
		{explicit: "a.b_c-1", want: "a.b_c-1"},
		{explicit: "Has Space", bad: true},
		{explicit: "../up", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.explicit+"|"+tc.label, func(t *testing.T) {
			got, err := interactive.KernelName(tc.explicit, tc.label)
			if tc.bad {
				if err == nil {
					t.Fatalf("KernelName(%q) = %q, want an error", tc.explicit, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("KernelName(%q, %q) = %q, %v; want %q", tc.explicit, tc.label, got, err, tc.want)
			}
		})
	}
}

func TestKernelsDir(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		prefix string
		want   string
	}{
		{"home", map[string]string{"HOME": "/home/u"}, "", "/home/u/.local/share/jupyter/kernels"},
		{"xdg", map[string]string{"HOME": "/home/u", "XDG_DATA_HOME": "/x"}, "", "/x/jupyter/kernels"},
		{"jupyter-data-dir", map[string]string{"HOME": "/home/u", "XDG_DATA_HOME": "/x", "JUPYTER_DATA_DIR": "/j"}, "", "/j/kernels"},
		{"prefix", map[string]string{"JUPYTER_DATA_DIR": "/j"}, "/opt/lab", "/opt/lab/share/jupyter/kernels"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := interactive.KernelsDir(func(k string) string { return tc.env[k] }, tc.prefix)
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := interactive.KernelsDir(func(string) string { return "" }, ""); err == nil {
		t.Error("no HOME and no prefix: want an error")
	}
}

func TestNamesPackage(t *testing.T) {
	tests := []struct {
		reqs []string
		want bool
	}{
		{[]string{"numpy", "ipykernel"}, true},
		{[]string{"IPyKernel>=6"}, true},
		{[]string{"ipykernel[test] ; python_version>'3'"}, true},
		{[]string{"ipykernel-extra"}, false},
		{[]string{"numpy"}, false},
		{nil, false},
	}
	for _, tc := range tests {
		if got := interactive.NamesPackage(tc.reqs, "ipykernel"); got != tc.want {
			t.Errorf("NamesPackage(%q) = %v, want %v", tc.reqs, got, tc.want)
		}
	}
}

// TestInstallKernel: install, list, replace, remove; a kernelspec senv did
// not write is neither replaced, listed nor removed.
func TestInstallKernel(t *testing.T) {
	dir := t.TempDir()
	spec := interactive.KernelSpec{Argv: []string{"/bin/senv", "kernel", "start"}, DisplayName: "a (senv 1)", Language: "python",
		Metadata: interactive.KernelMetadata{Senv: &interactive.SenvKernel{EnvID: "0123456789abcdef", Label: "a"}}}
	path, err := interactive.InstallKernel(dir, "senv-a", spec, []byte("lock"))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(path, interactive.LockFile)); err != nil || string(b) != "lock" {
		t.Errorf("lock beside kernel.json: %q, %v", b, err)
	}
	spec.DisplayName = "a (senv 2)"
	if _, err := interactive.InstallKernel(dir, "senv-a", spec, nil); err != nil {
		t.Fatalf("reinstall: %v", err)
	}
	foreign := filepath.Join(dir, "python3")
	if err := os.MkdirAll(foreign, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(foreign, "kernel.json"), []byte(`{"argv":["python3"],"display_name":"Python 3","language":"python"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := interactive.InstallKernel(dir, "python3", spec, nil); err == nil || !strings.Contains(err.Error(), "senv did not install") {
		t.Errorf("installing over a foreign kernel: %v, want a refusal", err)
	}
	list, err := interactive.ListKernels(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "senv-a" || list[0].Spec.DisplayName != "a (senv 2)" {
		t.Errorf("ListKernels = %+v, want only senv-a as reinstalled", list)
	}
	if _, err := os.Stat(filepath.Join(dir, "senv-a", interactive.LockFile)); err == nil {
		t.Errorf("the old lock survived a reinstall without one")
	}
	if err := interactive.RemoveKernel(dir, "python3"); err == nil {
		t.Errorf("removed a kernel senv did not install")
	}
	if err := interactive.RemoveKernel(dir, "senv-a"); err != nil {
		t.Fatal(err)
	}
	if list, _ := interactive.ListKernels(dir); len(list) != 0 {
		t.Errorf("after rm: %+v", list)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("the foreign kernel is gone: %v", err)
	}
}

// TestKernelInstallProcess: `senv kernel install` adds ipykernel only when
// the spec lacks it, pins the env and the lock in kernel.json, and the
// kernel's argv starts in a clean environment (env -i) with the env staged,
// from the kernelspec alone. A wheel named ipykernel stands in for the real
// one, which needs PyPI (e2e/interactive_test.go starts the real kernel).
func TestKernelInstallProcess(t *testing.T) {
	tests := []struct {
		name   string
		script string // a job script to install from, "" for flags only
		args   []string
		added  bool // senv added ipykernel
		cold   bool // remove the env from the cache too: the kernel builds it from the lock
	}{
		{name: "added", args: []string{"--pip", "gamma"}, added: true},
		{name: "present", args: []string{"--pip", "gamma", "--pip", "IPyKernel==6.0"}},
		{name: "script-cold", script: "#!/bin/bash\n#ENV pip gamma\n#ENV no-index\npython train.py\n", added: true, cold: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t)
			if _, err := wheelhouse.Build(s.wheels, wheelhouse.Wheel{Name: "ipykernel", Version: "6.0"}); err != nil {
				t.Fatal(err)
			}
			prefix := filepath.Join(s.dir, "jupyter")
			args := append([]string{"kernel", "install", "--prefix", prefix, "--name", "demo", "--find-links", s.wheels, "--no-index"}, tc.args...)
			if tc.script != "" {
				path := filepath.Join(s.dir, "train.sh")
				if err := os.WriteFile(path, []byte(tc.script), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, path)
			}
			cmd := exec.Command(senvBin, args...)
			cmd.Env, cmd.Dir = s.env("/bin/bash"), s.dir
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("senv kernel install: %v\n%s", err, stderr.String())
			}
			if strings.TrimSpace(string(out)) != "demo" {
				t.Errorf("stdout = %q, want the kernel name only", out)
			}
			if said := strings.Contains(stderr.String(), "senv: adding ipykernel"); said != tc.added {
				t.Errorf("stderr says it added ipykernel: %v, want %v:\n%s", said, tc.added, stderr.String())
			}
			k, err := interactive.ReadKernel(filepath.Join(prefix, "share", "jupyter", "kernels", "demo"))
			if err != nil {
				t.Fatal(err)
			}
			id := k.Spec.Metadata.Senv.EnvID
			if len(id) != 16 || !strings.Contains(k.Spec.DisplayName, id) {
				t.Errorf("display name %q does not name env %q", k.Spec.DisplayName, id)
			}
			argv := strings.Join(k.Spec.Argv, " ")
			if n := strings.Count(argv+" ", " --pip ipykernel "); n != map[bool]int{true: 1, false: 0}[tc.added] {
				t.Errorf("argv has %d '--pip ipykernel' (added: %v): %s", n, tc.added, argv)
			}
			if k.Spec.Argv[0] != senvBin || !strings.Contains(argv, "--env-id "+id) || !strings.Contains(argv, "--cache-dir "+s.cache) ||
				!strings.HasSuffix(argv, "-- python -m ipykernel_launcher -f {connection_file}") {
				t.Errorf("argv does not start the kernel through senv with env, cache and connection file: %s", argv)
			}
			lock, err := os.ReadFile(filepath.Join(k.Dir, interactive.LockFile))
			if err != nil || !strings.Contains(string(lock), `name = "ipykernel"`) {
				t.Errorf("lock beside kernel.json lacks ipykernel: %v\n%s", err, lock)
			}
			// Start it as Jupyter would, in a clean environment, but run a
			// command of ours in place of the launcher.
			dash := indexOf(k.Spec.Argv, "--")
			start := append(append([]string{"env", "-i"}, envList(k.Spec.Env)...), k.Spec.Argv[:dash+1]...)
			start = append(start, "python", "-c", "import gamma, ipykernel; print(gamma.__file__)")
			gone := []string{s.stage}
			if tc.cold {
				gone = append(gone, filepath.Join(s.cache, "v1", "envs", id), filepath.Join(s.cache, "v1", "locks"))
			}
			for _, p := range gone {
				if err := os.RemoveAll(p); err != nil {
					t.Fatal(err)
				}
			}
			run := exec.Command(start[0], start[1:]...)
			var runErr strings.Builder
			run.Stderr = &runErr
			got, err := run.Output()
			if err != nil {
				t.Fatalf("kernel start: %v\n%s", err, runErr.String())
			}
			if want := filepath.Join(s.stage, id) + "/"; !strings.HasPrefix(string(got), want) {
				t.Errorf("the kernel imported gamma from %q, want it under the restaged env %s", got, want)
			}
			if strings.Contains(string(got), "senv:") {
				t.Errorf("phase lines on stdout: %q", got)
			}
			want := "cache hit, staged"
			if tc.cold {
				want = "building with"
			}
			if log := runErr.String(); !strings.Contains(log, want) || strings.Contains(log, "solved spec") {
				t.Errorf("the kernel start did not say %q, or solved:\n%s", want, log)
			}
		})
	}
}

func TestKernelLauncherArgv(t *testing.T) {
	l := interactive.KernelLauncher{Senv: "/opt/senv", CacheDir: "/c", StageDir: "/s", Dir: "/w", Lock: "/k/senv.lock", EnvID: "0123456789abcdef",
		Flags: []string{"--pip", "numpy"}}
	want := []string{"/opt/senv", "--cache-dir", "/c", "--stage-dir", "/s", "kernel", "start", "--dir", "/w", "--lock-file", "/k/senv.lock",
		"--env-id", "0123456789abcdef", "--pip", "numpy", "--", "python", "-m", "ipykernel_launcher", "-f", "{connection_file}"}
	if got := l.Argv(); !reflect.DeepEqual(got, want) {
		t.Errorf("Argv = %q\nwant %q", got, want)
	}
	b, err := json.Marshal(interactive.KernelSpec{Argv: want})
	if err != nil || !strings.Contains(string(b), `"{connection_file}"`) {
		t.Errorf("kernel.json does not carry Jupyter's placeholder: %s %v", b, err)
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func envList(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// TestKernelQuiet: --quiet silences senv's own lines and nothing else:
// kernel install (adding ipykernel) and kernel rm exit 0 without a line on
// stderr. Before, both panicked on the nil logger that --quiet gives, rm
// after it had removed the kernel.
func TestKernelQuiet(t *testing.T) {
	s := newSandbox(t)
	if _, err := wheelhouse.Build(s.wheels, wheelhouse.Wheel{Name: "ipykernel", Version: "6.0"}); err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(s.dir, "jupyter")
	for _, args := range [][]string{
		{"--quiet", "kernel", "install", "--prefix", prefix, "--name", "demo", "--find-links", s.wheels, "--no-index", "--pip", "gamma"},
		{"--quiet", "kernel", "rm", "--prefix", prefix, "demo"},
	} {
		cmd := exec.Command(senvBin, args...)
		cmd.Env, cmd.Dir = s.env("/bin/bash"), s.dir
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil || stderr.Len() != 0 {
			t.Errorf("senv %s: %v, stderr:\n%s", strings.Join(args[:3], " "), err, stderr.String())
		}
	}
	if _, err := os.Stat(filepath.Join(prefix, "share", "jupyter", "kernels", "demo")); !os.IsNotExist(err) {
		t.Errorf("the kernel is still there after rm: %v", err)
	}
}
