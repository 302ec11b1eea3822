package templates

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// hostileVars are setenv values that break any shell code built by string
// pasting. Values cannot hold newlines (jobspec refuses them) but the
// activation must not depend on that.
var hostileVars = []Var{
	{"CMD_SUBST", "$(touch pwned)"},
	{"BACKTICKS", "`touch pwned`"},
	{"SINGLE", "it's 'quoted'"},
	{"DOUBLE", `say "hi" \"there\"`},
	{"SEMI", "a; touch pwned; b"},
	{"SPACES", "  two  spaces  "},
	{"STAR", "*"},
	{"GLOBS", "? [a-z]* {a,b} ~"},
	{"DOLLAR", "$HOME ${PATH} $0 $1 $@"},
	{"BACKSLASH", `\n \\ \`},
	{"PIPES", "a|b&c>d<e"},
	{"HASH", "#not a comment"},
	{"TAB", "a\tb"},
	{"UNICODE", "日本 é"},
	{"NOT_UTF8", "\xff\xfe"},
	{"EMPTY", ""},
	{"EQUALS", "a=b=c"},
	{"PATH_LIKE", "/opt/x/bin:$PATH"},
	{"_under", "x"},
}

// activationCases are the Activation values whose rendering is golden.
var activationCases = []struct {
	name string
	a    Activation
}{
	{"empty", Activation{}},
	{"modules", Activation{ModuleInit: []string{"/usr/share/lmod/lmod/init/sh", "/etc/profile.d/modules.sh"}, Modules: []string{"cuda/12.1", "gcc/12.2.0"}}},
	{"modules-one-init", Activation{ModuleInit: []string{"/usr/share/lmod/lmod/init/sh"}, Modules: []string{"cuda/12.1"}}},
	{"modules-no-init", Activation{Modules: []string{"cuda/12.1"}}},
	{"modules-hostile", Activation{ModuleInit: []string{"/opt/my modules/init/sh", "/x/$(id)/init"}, Modules: []string{"odd name", "$(touch pwned)", "it's"}}},
	{"venv", Activation{Kind: "venv", Prefix: "/tmp/senv-1000/3f9a1c2b"}},
	{"venv-lease", Activation{Kind: "venv", Prefix: "/tmp/senv-1000/3f9a1c2b", Lease: "/tmp/senv-1000/.senv/3f9a1c2b.lease", Ready: "/tmp/senv-1000/.senv/3f9a1c2b.done", Exit: true}},
	{"venv-hostile-prefix", Activation{Kind: "venv", Prefix: "/tmp/it's a $(dir)/env"}},
	{"conda", Activation{Kind: "conda", Prefix: "/tmp/senv-1000/3f9a1c2b"}},
	{"conda-hostile-prefix", Activation{Kind: "conda", Prefix: "/tmp/it's a *$(dir)/env"}},
	{"conda-variables", Activation{Kind: "conda", Prefix: "/tmp/senv-1000/3f9a1c2b", Variables: hostileVars, SetEnv: []Var{{"OMP_NUM_THREADS", "8"}}}},
	{"venv-variables", Activation{Kind: "venv", Prefix: "/tmp/senv-1000/3f9a1c2b", Variables: []Var{{"DATA_DIR", "/scratch/data"}}}},
	{"setenv", Activation{SetEnv: []Var{{"OMP_NUM_THREADS", "8"}, {"MSG", "a b"}}}},
	{"setenv-hostile", Activation{SetEnv: hostileVars}},
	{"everything", Activation{
		ModuleInit: []string{"/usr/share/lmod/lmod/init/sh"},
		Modules:    []string{"cuda/12.1"},
		Kind:       "conda",
		Prefix:     "/tmp/senv-1000/3f9a1c2b",
		SetEnv:     []Var{{"OMP_NUM_THREADS", "8"}, {"CMD", "$(touch pwned)"}},
	}},
}

// TestActivationRender renders every case, compares it with its golden file
// and checks it with `dash -n` and `bash -n`; TestShellcheck runs
// shellcheck on the same cases.
func TestActivationRender(t *testing.T) {
	for _, tc := range activationCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.a.Render()
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			golden(t, "activation/"+tc.name+".sh.golden", got)
			if !strings.HasPrefix(got, "# >>> senv activation >>>\n") || !strings.HasSuffix(got, "# <<< senv activation <<<\n") {
				t.Errorf("block is not framed by its marker lines:\n%s", got)
			}
			checkSyntax(t, got)
		})
	}
}

// TestShellcheck: every generated block passes shellcheck (STYLE.md),
// including values holding $, ` and quotes, one-item init lists and dynamic
// sources, which the templates annotate for shellcheck.
func TestShellcheck(t *testing.T) {
	for _, tc := range activationCases {
		t.Run("activation/"+tc.name, func(t *testing.T) {
			got, err := tc.a.Render()
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			checkShellcheck(t, got)
		})
	}
	for _, tc := range injectCases {
		t.Run("inject/"+tc.name, func(t *testing.T) {
			got, err := tc.i.Render()
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			checkShellcheck(t, got)
		})
	}
}

func TestActivationRenderRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", "1A", "A-B", "A B", "A=B", "$(id)", "A;B", "é"} {
		t.Run(name, func(t *testing.T) {
			_, err := Activation{SetEnv: []Var{{"OK", "1"}, {name, "x"}}}.Render()
			if err == nil {
				t.Fatalf("Render accepted variable name %q", name)
			}
			if !strings.HasPrefix(err.Error(), "failed to render activation: invalid variable name") {
				t.Errorf("error = %q", err)
			}
			if _, err := (Activation{SetEnv: []Var{{name, "x"}}}).Command("true"); err == nil {
				t.Errorf("Command accepted variable name %q", name)
			}
		})
	}
}

func TestActivationRenderRejectsNUL(t *testing.T) {
	for _, a := range []Activation{
		{SetEnv: []Var{{"A", "x\x00y"}}},
		{Kind: "venv", Prefix: "/x\x00"},
		{Modules: []string{"a\x00"}},
		{ModuleInit: []string{"/x\x00"}, Modules: []string{"a"}},
	} {
		if _, err := a.Render(); !errors.Is(err, ErrNUL) {
			t.Errorf("Render(%+v): error %v, want ErrNUL", a, err)
		}
	}
}

// fakeModules is a temp module system: an init script that defines a
// `module` shell function recording its arguments, NUL-terminated, in
// $SENV_TEST_LOG, and records that it was sourced. It stands in for Lmod or
// Environment Modules, which are not installed here.
type fakeModules struct {
	dir  string
	init string
	log  string
}

func newFakeModules(t *testing.T, body string) fakeModules {
	t.Helper()
	dir := t.TempDir()
	f := fakeModules{dir: dir, init: filepath.Join(dir, "module init's dir", "init.sh"), log: filepath.Join(dir, "module.log")}
	if err := os.MkdirAll(filepath.Dir(f.init), 0o755); err != nil {
		t.Fatal(err)
	}
	if body == "" {
		body = `printf '%s\0' "$@" >>"$SENV_TEST_LOG"`
	}
	init := "printf 'sourced %s\\0' \"$SENV_TEST_MARK\" >>\"$SENV_TEST_LOG\"\nmodule() {\n  " + body + "\n}\n"
	if err := os.WriteFile(f.init, []byte(init), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f fakeModules) calls(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(f.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return splitNUL(b)
}

// runResult is what one run of an activation produced.
type runResult struct {
	env    map[string]string
	stderr string
	code   int
}

// runActivation runs a.Command("env", "-0") with its /bin/sh replaced by
// shell, in a working directory full of files (so an unquoted * would
// expand), and returns the environment the command saw.
func runActivation(t *testing.T, shell string, a Activation, prelude string, env ...string) runResult {
	t.Helper()
	argv, err := a.Command("env", "-0")
	if err != nil {
		t.Fatalf("Command: %v", err)
	}
	if argv[0] != "/bin/sh" || argv[1] != "-c" {
		t.Fatalf("Command = %q, want /bin/sh -c ...", argv[:2])
	}
	argv[0] = shell
	argv[2] = prelude + argv[2]
	cwd := t.TempDir()
	for _, name := range []string{"a-file", "b-file"} {
		if err := os.WriteFile(filepath.Join(cwd, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = cwd
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent", "PYTHONHOME=/bogus"}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	res := runResult{env: map[string]string{}}
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("run %s: %v", shell, err)
		}
		res.code = exit.ExitCode()
	}
	res.stderr = stderr.String()
	for _, kv := range splitNUL(stdout.Bytes()) {
		name, value, _ := strings.Cut(kv, "=")
		res.env[name] = value
	}
	if _, err := os.Stat(filepath.Join(cwd, "pwned")); err == nil {
		t.Errorf("%s: a value was executed as code (pwned exists)", shell)
	}
	return res
}

// TestActivationRunsWithFakeModuleSystem executes the activation block under
// dash and under bash, with a fake module system (see fakeModules), and
// checks that modules are loaded with their names intact and that every
// setenv value reaches the environment byte for byte.
func TestActivationRunsWithFakeModuleSystem(t *testing.T) {
	for name, sh := range shells(t) {
		t.Run(name+"/venv", func(t *testing.T) {
			fm := newFakeModules(t, "")
			prefix := filepath.Join(t.TempDir(), "it's a $(dir) *", "env")
			a := Activation{
				ModuleInit: []string{filepath.Join(fm.dir, "missing"), fm.init},
				Modules:    []string{"cuda/12.1", "odd name", "$(touch pwned)", "it's"},
				Kind:       "venv",
				Prefix:     prefix,
				SetEnv:     hostileVars,
			}
			res := runActivation(t, sh, a, "", "SENV_TEST_LOG="+fm.log, "SENV_TEST_MARK=init")
			if res.code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
			}
			if want := []string{"sourced init", "load", "cuda/12.1", "odd name", "$(touch pwned)", "it's"}; !reflect.DeepEqual(fm.calls(t), want) {
				t.Errorf("module calls = %q, want %q", fm.calls(t), want)
			}
			for _, v := range hostileVars {
				got, ok := res.env[v.Name]
				if !ok || got != v.Value {
					t.Errorf("%s = %q (set: %v), want %q", v.Name, got, ok, v.Value)
				}
			}
			if got := res.env["VIRTUAL_ENV"]; got != prefix {
				t.Errorf("VIRTUAL_ENV = %q, want %q", got, prefix)
			}
			if got, want := res.env["PATH"], prefix+"/bin:"+os.Getenv("PATH"); got != want {
				t.Errorf("PATH = %q, want %q", got, want)
			}
			if got, ok := res.env["PYTHONHOME"]; ok {
				t.Errorf("PYTHONHOME = %q, want it unset", got)
			}
		})
		t.Run(name+"/conda", func(t *testing.T) {
			prefix := filepath.Join(t.TempDir(), "conda's $(env)", "env")
			hooks := filepath.Join(prefix, "etc", "conda", "activate.d")
			if err := os.MkdirAll(hooks, 0o755); err != nil {
				t.Fatal(err)
			}
			for file, body := range map[string]string{
				"a.sh":   "SENV_TEST_HOOKS=\"${SENV_TEST_HOOKS}a\"; export SENV_TEST_HOOKS\n",
				"b.sh":   "SENV_TEST_HOOKS=\"${SENV_TEST_HOOKS}b:$CONDA_PREFIX:$SENV_TEST_VAR\"; export SENV_TEST_HOOKS\n",
				"c.csh":  "setenv SENV_TEST_CSH ran\n",
				"d.fish": "set -x SENV_TEST_FISH ran\n",
			} {
				if err := os.WriteFile(filepath.Join(hooks, file), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// the env's variables (environment.yml variables:) come before
			// its activate.d scripts, as with conda activate; setenv after
			a := Activation{Kind: "conda", Prefix: prefix, Variables: []Var{{"SENV_TEST_VAR", "it's $(yml)"}},
				SetEnv: []Var{{"AFTER_HOOKS", "$SENV_TEST_HOOKS"}}}
			res := runActivation(t, sh, a, "")
			if res.code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
			}
			want := map[string]string{
				"CONDA_PREFIX":      prefix,
				"CONDA_DEFAULT_ENV": prefix,
				"CONDA_SHLVL":       "1",
				"PATH":              prefix + "/bin:" + os.Getenv("PATH"),
				"SENV_TEST_HOOKS":   "ab:" + prefix + ":it's $(yml)", // in glob order, after CONDA_PREFIX and the variables are set
				"SENV_TEST_VAR":     "it's $(yml)",
				"AFTER_HOOKS":       "$SENV_TEST_HOOKS",
			}
			for k, v := range want {
				if res.env[k] != v {
					t.Errorf("%s = %q, want %q", k, res.env[k], v)
				}
			}
			for _, k := range []string{"PYTHONHOME", "SENV_TEST_CSH", "SENV_TEST_FISH", "senv_hook"} {
				if v, ok := res.env[k]; ok {
					t.Errorf("%s = %q, want it unset", k, v)
				}
			}
		})
		t.Run(name+"/conda-without-hooks", func(t *testing.T) {
			prefix := t.TempDir()
			res := runActivation(t, sh, Activation{Kind: "conda", Prefix: prefix}, "")
			if res.code != 0 || res.env["CONDA_PREFIX"] != prefix {
				t.Fatalf("exit %d, CONDA_PREFIX %q, stderr:\n%s", res.code, res.env["CONDA_PREFIX"], res.stderr)
			}
		})
		t.Run(name+"/first-readable-init-wins", func(t *testing.T) {
			fm1 := newFakeModules(t, "")
			fm2 := newFakeModules(t, "")
			a := Activation{ModuleInit: []string{filepath.Join(fm1.dir, "missing"), fm1.init, fm2.init}, Modules: []string{"a"}}
			res := runActivation(t, sh, a, "", "SENV_TEST_LOG="+fm1.log, "SENV_TEST_MARK=one")
			if res.code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
			}
			if want := []string{"sourced one", "load", "a"}; !reflect.DeepEqual(fm1.calls(t), want) {
				t.Errorf("module calls = %q, want %q", fm1.calls(t), want)
			}
			if _, ok := res.env["senv_init"]; ok {
				t.Error("senv_init leaks into the environment")
			}
		})
		t.Run(name+"/module-already-defined", func(t *testing.T) {
			fm := newFakeModules(t, "")
			prelude := "module() { printf 'pre %s\\0' \"$@\" >>\"$SENV_TEST_LOG\"; }\n"
			a := Activation{ModuleInit: []string{fm.init}, Modules: []string{"cuda/12.1", "b c"}}
			res := runActivation(t, sh, a, prelude, "SENV_TEST_LOG="+fm.log)
			if res.code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
			}
			if want := []string{"pre load", "pre cuda/12.1", "pre b c"}; !reflect.DeepEqual(fm.calls(t), want) {
				t.Errorf("module calls = %q, want %q (the init script must not be sourced)", fm.calls(t), want)
			}
		})
		t.Run(name+"/no-module-system", func(t *testing.T) {
			a := Activation{ModuleInit: []string{"/nonexistent/senv-test/init"}, Modules: []string{"a"}, SetEnv: []Var{{"A", "1"}}}
			res := runActivation(t, sh, a, "")
			if res.code != 1 {
				t.Errorf("exit %d, want 1", res.code)
			}
			if want := "senv: error: no module system found; set module_init in the senv config\n"; res.stderr != want {
				t.Errorf("stderr = %q, want %q", res.stderr, want)
			}
			if len(res.env) != 0 {
				t.Error("the command ran after a failed activation")
			}
		})
		t.Run(name+"/module-load-fails", func(t *testing.T) {
			fm := newFakeModules(t, "return 3")
			a := Activation{ModuleInit: []string{fm.init}, Modules: []string{"a", "it's"}}
			res := runActivation(t, sh, a, "", "SENV_TEST_LOG="+fm.log)
			if res.code != 1 {
				t.Errorf("exit %d, want 1", res.code)
			}
			if want := "senv: error: module load a it's failed\n"; res.stderr != want {
				t.Errorf("stderr = %q, want %q", res.stderr, want)
			}
			if len(res.env) != 0 {
				t.Error("the command ran after a failed module load")
			}
		})
		t.Run(name+"/empty", func(t *testing.T) {
			res := runActivation(t, sh, Activation{}, "")
			if res.code != 0 || res.env["PYTHONHOME"] != "/bogus" {
				t.Errorf("exit %d, PYTHONHOME %q: an empty activation must change nothing", res.code, res.env["PYTHONHOME"])
			}
		})
	}
}

func TestActivationCommand(t *testing.T) {
	a := Activation{SetEnv: []Var{{"A", "1"}}}
	argv, err := a.Command("python", "-c", "print(1)")
	if err != nil {
		t.Fatal(err)
	}
	exiting := a
	exiting.Exit = true // a job or senv run stops when activation fails
	block, _ := exiting.Render()
	want := []string{"/bin/sh", "-c", block + "exec \"$@\"\n", "senv", "python", "-c", "print(1)"}
	if !reflect.DeepEqual(argv, want) {
		t.Errorf("Command = %q, want %q", argv, want)
	}
	// The argv passes through untouched, however hostile.
	for name, sh := range shells(t) {
		t.Run(name, func(t *testing.T) {
			args := []string{"$(touch pwned)", "it's", "*", "", "a b"}
			argv, err := a.Command(append([]string{"printf", `%s\0`}, args...)...)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(sh, argv[1:]...)
			cmd.Dir = t.TempDir()
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			if got := splitNUL(out); !reflect.DeepEqual(got, args) {
				t.Errorf("args = %q, want %q", got, args)
			}
		})
	}
}

// injectCases are the Inject values whose rendering is golden.
var injectCases = []struct {
	name string
	i    Inject
}{
	{"plain", Inject{Version: "0.1.0", Command: []string{"/usr/local/bin/senv", "activate", "--shell", "sh", "--dir", "/home/u/job", "--lock-file", "/home/u/job/train.sh.lock"}}},
	{"hostile-paths", Inject{Version: "0.1.0-dev", Command: []string{"/opt/it's senv/bin/senv", "activate", "--dir", "/home/u/$(x) `y`", "--setenv", "A=$HOME;*"}}},
}

func TestInjectRender(t *testing.T) {
	for _, tc := range injectCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.i.Render()
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			golden(t, "inject/"+tc.name+".sh.golden", got)
			checkSyntax(t, got)
		})
	}
	if _, err := (Inject{Command: []string{"a\x00"}}).Render(); !errors.Is(err, ErrNUL) {
		t.Errorf("Render with a NUL: error %v, want ErrNUL", err)
	}
}

// TestInjectRuns executes a rendered job script under dash and bash with a
// stand-in for `senv activate`: a script that checks its arguments and
// prints activation code. A failure of the command must end the job with
// the command's status, before the payload.
func TestInjectRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "it's $(a) dir")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(dir, "fake senv")
	script := `#!/bin/sh
[ "$1" = activate ] && [ "$2" = "--dir" ] && [ "$3" = "$SENV_TEST_DIR" ] && [ "$4" = --script ] && [ "$5" = "$SENV_TEST_JOB" ] || exit 9
[ -n "$SENV_TEST_FAIL" ] && { echo 'senv: error: could not build' >&2; exit "$SENV_TEST_FAIL"; }
printf '%s\n' "SENV_TEST_ACTIVE='it'\''s on'; export SENV_TEST_ACTIVE"
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	block, err := Inject{Version: "test", Command: []string{fake, "activate", "--dir", dir}}.Render()
	if err != nil {
		t.Fatal(err)
	}
	job := filepath.Join(dir, "job $1.sh")
	body := Script([]byte("#!/bin/sh\n#ENV pip numpy"), block, []byte("printf '%s' \"$SENV_TEST_ACTIVE\"\n[ -z \"${senv_activation+x}\" ] || echo leaked\n"))
	if err := os.WriteFile(job, body, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, sh := range shells(t) {
		for _, tc := range []struct {
			fail     string
			wantCode int
			wantOut  string
		}{
			{"", 0, "it's on"},
			{"3", 3, ""},
			{"1", 1, ""},
		} {
			t.Run(name+"/fail="+tc.fail, func(t *testing.T) {
				cmd := exec.Command(sh, job)
				cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SENV_TEST_DIR=" + dir, "SENV_TEST_JOB=" + job, "SENV_TEST_FAIL=" + tc.fail}
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				code := 0
				var exit *exec.ExitError
				if errors.As(err, &exit) {
					code = exit.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				if code != tc.wantCode || stdout.String() != tc.wantOut {
					t.Errorf("exit %d stdout %q, want exit %d stdout %q; stderr:\n%s", code, stdout.String(), tc.wantCode, tc.wantOut, stderr.String())
				}
			})
		}
	}
}

func TestScript(t *testing.T) {
	tests := []struct {
		name            string
		header, payload string
		block           string
		want            string
	}{
		{"plain", "#!/bin/sh\n#ENV pip x\n", "echo\n", "B\n", "#!/bin/sh\n#ENV pip x\nB\necho\n"},
		{"header without newline at EOF", "#!/bin/sh\n#ENV pip x", "", "B\n", "#!/bin/sh\n#ENV pip x\nB\n"},
		{"empty header", "", "echo\n", "B\n", "B\necho\n"},
		{"empty payload", "#!/bin/sh\n", "", "B\n", "#!/bin/sh\nB\n"},
		{"payload without newline", "#!/bin/sh\n", "echo", "B\n", "#!/bin/sh\nB\necho"},
		{"payload bytes kept", "#!/bin/sh\n", "echo '\xff\xfe\x00'\r\n", "B\n", "#!/bin/sh\nB\necho '\xff\xfe\x00'\r\n"},
		{"empty block", "#!/bin/sh\n", "echo\n", "", "#!/bin/sh\necho\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(Script([]byte(tc.header), tc.block, []byte(tc.payload))); got != tc.want {
				t.Errorf("Script = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestActivationLease_FakeFlock: the evaluated activation takes the lease
// with flock(1) (faked here, to be a filesystem without locks, which this
// machine cannot provide). A lock that cannot be had in time is an error;
// a filesystem with no locks at all (flock exits 71) is not: gc cannot
// lock the lease there either and keeps the env.
func TestActivationLease_FakeFlock(t *testing.T) {
	cases := []struct {
		name     string
		exit     int // of the fake flock
		wantCode int
	}{
		{"locked", 0, 0},
		{"timed out", 1, 1},
		{"no locks on this filesystem", 71, 0},
	}
	for name, sh := range shells(t) {
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				bin := filepath.Join(dir, "bin")
				os.Mkdir(bin, 0o755)
				os.WriteFile(filepath.Join(bin, "flock"), []byte(fmt.Sprintf("#!/bin/sh\nexit %d\n", tc.exit)), 0o755)
				lease, ready := filepath.Join(dir, "lease"), filepath.Join(dir, "done")
				os.WriteFile(lease, nil, 0o600)
				os.WriteFile(ready, nil, 0o600)
				block, err := Activation{Lease: lease, Ready: ready, Exit: true}.Render()
				if err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(sh, "-c", block+"echo activated\n")
				cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH")}
				out, _ := cmd.CombinedOutput()
				code := cmd.ProcessState.ExitCode()
				if code != tc.wantCode || (code == 0) != strings.Contains(string(out), "activated") {
					t.Errorf("exit %d, want %d:\n%s", code, tc.wantCode, out)
				}
			})
		}
	}
}
