//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jobTimeout is how long one small job may take, build included.
const jobTimeout = 90 * time.Second

// TestSbatchBatchScript is issue 4's first piece of evidence: a batch script with module,
// python, pip, requirements and setenv directives, submitted with `senv sbatch`, runs with
// the env's python from the node-local stage directory, the modules loaded and the variables
// set, and the job only stages: the env was solved and built on the submit host.
func TestSbatchBatchScript(t *testing.T) {
	c := Require(t)
	f := newFixture(t, c)
	f.write(t, "requirements.txt", "# gamma comes from here, alpha from #ENV pip\ngamma==2.0\n")
	script := f.write(t, "train.sh", `#!/bin/bash
#SBATCH --comment=e2e-header-option
#ENV module cuda/12.1
#ENV python 3.11
#ENV pip alpha
#ENV requirements requirements.txt
#ENV setenv GREETING=hello "SPACED=a b  c"
#ENV find-links {WHEELS}
#ENV no-index
echo "python=$(command -v python)"
echo "home=$(sed -n 's/^home = //p' "$VIRTUAL_ENV/pyvenv.cfg")"
echo "CUDA_VERSION=$CUDA_VERSION"
echo "LOADEDMODULES=$LOADEDMODULES"
echo "GREETING=$GREETING"
echo "SPACED=[$SPACED]"
python -c 'import alpha, gamma; print("alpha=" + alpha.__file__); print("gamma=" + gamma.__file__)'
alpha-hello
`)
	out := filepath.Join(f.Dir, "train.out")
	name := "e2e-batch-" + randomHex(t, 4)
	id, submitLog := f.sbatch(t, "--job-name", name, "-D", f.Dir, "-o", out, script)
	j := f.finish(t, id, out, jobTimeout)
	mustComplete(t, j)

	// Built on the submit host; the job uses the same env.
	envID := oneEnvID(t, "senv sbatch", submitLog)
	if !strings.Contains(submitLog, phraseBuilding) {
		t.Errorf("senv sbatch did not build on the submit host (default --build-at submit):\n%s", submitLog)
	}
	if got := oneEnvID(t, "job log", j.Out); got != envID {
		t.Errorf("the job used env %s, senv sbatch built %s", got, envID)
	}
	if !strings.Contains(j.Out, phraseCacheHit) {
		t.Errorf("job log has no %q line:\n%s", phraseCacheHit, j.Out)
	}
	for _, p := range []string{phraseBuilding, phraseSolved} {
		if strings.Contains(j.Out, p) {
			t.Errorf("the job solved or built (%q), it should only stage:\n%s", p, j.Out)
		}
	}

	prefix := f.Stage + "/" + envID
	want := map[string]string{
		"python":       prefix + "/bin/python",
		"home":         c.Path("sw", "python-3.11", "bin"), // the venv's base is python/3.11's python
		"CUDA_VERSION": "12.1",
		"GREETING":     "hello",
		"SPACED":       "[a b  c]",
		"alpha":        prefix + "/lib/python3.11/site-packages/alpha/__init__.py",
		"gamma":        prefix + "/lib/python3.11/site-packages/gamma/__init__.py",
	}
	for k, v := range want {
		if got, _ := value(j.Out, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	loaded, _ := value(j.Out, "LOADEDMODULES")
	for _, m := range []string{"cuda/12.1", "python/3.11"} {
		if !strings.Contains(":"+loaded+":", ":"+m+":") {
			t.Errorf("module %s not loaded: LOADEDMODULES=%s", m, loaded)
		}
	}
	if !strings.Contains(j.Out, "hello from alpha 1.0\n") {
		t.Errorf("alpha's console script did not run")
	}
	// sbatch options, on the command line and in the header, reach Slurm unchanged.
	if got := c.jobField(t, id, "JobName"); got != name {
		t.Errorf("JobName = %q, want %q", got, name)
	}
	if got := c.jobField(t, id, "Comment"); got != "e2e-header-option" {
		t.Errorf("Comment = %q, want the header's e2e-header-option", got)
	}
	if t.Failed() {
		t.Logf("%s", describe(j))
	}
}

// TestSbatchWrap: `sbatch --wrap "senv run ... -- CMD"` and `senv sbatch ... --wrap CMD` both
// run CMD in the env, under /bin/sh (dash), which is what sbatch --wrap writes.
func TestSbatchWrap(t *testing.T) {
	c := Require(t)
	const show = `echo "shell=$(readlink /proc/$$/exe)"; `
	const importAlpha = `python -c 'import alpha; print("alpha=" + alpha.__file__)'`
	tests := []struct {
		name   string
		submit func(t *testing.T, f *fixture, out string) string
	}{
		{"sbatch --wrap senv run", func(t *testing.T, f *fixture, out string) string {
			run := "senv run --pip alpha --find-links " + f.Wheels + " --no-index -- "
			return c.Submit(t, f.Env(), "-D", f.Dir, "-o", out, "--wrap", show+run+importAlpha+"; "+run+"alpha-hello")
		}},
		{"senv sbatch --wrap", func(t *testing.T, f *fixture, out string) string {
			id, _ := f.sbatch(t, "--pip", "alpha", "--find-links", f.Wheels, "--no-index",
				"-D", f.Dir, "-o", out, "--wrap", show+importAlpha+"; alpha-hello")
			return id
		}},
		// a group of short options, as sbatch's getopt reads it: -W (wait for the
		// job, so senv packs before it submits) and -D taking the next argument
		{"senv sbatch -WD DIR --wrap", func(t *testing.T, f *fixture, out string) string {
			id, _ := f.sbatch(t, "--pip", "alpha", "--find-links", f.Wheels, "--no-index",
				"-WD", f.Dir, "-o", out, "--wrap", show+importAlpha+"; alpha-hello")
			return id
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, c)
			out := filepath.Join(f.Dir, "wrap.out")
			j := f.finish(t, tc.submit(t, f, out), out, jobTimeout)
			mustComplete(t, j)
			if got, _ := value(j.Out, "shell"); got != "/usr/bin/dash" {
				t.Errorf("the --wrap script ran under %q, want /usr/bin/dash", got)
			}
			if got, _ := value(j.Out, "alpha"); !strings.HasPrefix(got, f.Stage+"/") {
				t.Errorf("alpha imported from %q, want it under the stage dir %s", got, f.Stage)
			}
			if !strings.Contains(j.Out, "hello from alpha 1.0\n") {
				t.Errorf("alpha-hello did not run")
			}
			if t.Failed() {
				t.Logf("%s", describe(j))
			}
		})
	}
}

// keyCase exercises one #ENV key: the same spec once with the key as an #ENV line and once
// as a senv sbatch flag.
type keyCase struct {
	key    string
	values []string // the key's values (none for no-index)
	other  []string // the rest of the spec, always as #ENV lines
	// payload prints what the job got; want are lines the job output must contain, see
	// hasLine (both with fixture placeholders, see fixture.expand).
	payload string
	want    []string
	// noBuild: the spec cannot be built on this testbed (see TestSbatchEveryKey).
	noBuild bool
	check   func(t *testing.T, f *fixture, j job) // more checks after the job
}

const (
	findLinks = "find-links {WHEELS}"
	noIndex   = "no-index"
	// printGamma prints where gamma was imported from.
	printGamma = `python -c 'import gamma; print("gamma=" + gamma.__file__)'`
)

var keyCases = []keyCase{
	{key: "module", values: []string{"gcc/12"},
		payload: `echo "TESTBED_GCC=$TESTBED_GCC"`, want: []string{"TESTBED_GCC=12"}},
	{key: "python", values: []string{"3.11"}, other: []string{"pip gamma", findLinks, noIndex},
		payload: `echo "home=$(sed -n 's/^home = //p' "$VIRTUAL_ENV/pyvenv.cfg")"; echo "LOADEDMODULES=$LOADEDMODULES"`,
		want:    []string{"home={TB}/sw/python-3.11/bin", "LOADEDMODULES=python/3.11"}},
	{key: "pip", values: []string{"gamma==2.0"}, other: []string{findLinks, noIndex},
		payload: printGamma, want: []string{"gamma={STAGE}/*"}},
	{key: "requirements", values: []string{"reqs.txt"}, other: []string{findLinks, noIndex},
		payload: "alpha-hello", want: []string{"hello from alpha 1.0"}},
	// conda, channel and solver: this testbed has no conda-family binary (and no network), so
	// no conda env can be built here. senv check and render accept them (a missing builder is
	// a warning there, SPEC §5) and senv sbatch fails cleanly at the build, queueing nothing.
	{key: "conda", values: []string{"numpy"}, noBuild: true},
	{key: "channel", values: []string{"conda-forge"}, other: []string{"conda numpy"}, noBuild: true},
	{key: "solver", values: []string{"classic"}, other: []string{"conda numpy"}, noBuild: true},
	{key: "file", values: []string{"pyproject.toml"}, other: []string{findLinks, noIndex},
		payload: printGamma, want: []string{"gamma={STAGE}/*"}},
	// python -m venv puts pip into the env; uv (the default here) does not.
	{key: "manager", values: []string{"venv"}, other: []string{"pip gamma", findLinks, noIndex},
		payload: `python -m pip --version >/dev/null 2>&1 && echo has_pip=yes || echo has_pip=no; ` + printGamma,
		want:    []string{"has_pip=yes", "gamma={STAGE}/*"}},
	// A PEP 503 index on disk, as the only package source: no find-links, no no-index.
	{key: "index-url", values: []string{"file://{DIR}/index-ab/simple"}, other: []string{"pip alpha"},
		payload: "alpha-hello", want: []string{"hello from alpha 1.0"}},
	// gamma is only on the extra index, alpha and beta only on the main one.
	{key: "extra-index-url", values: []string{"file://{DIR}/index-g/simple"},
		other:   []string{"index-url file://{DIR}/index-ab/simple", "pip alpha gamma"},
		payload: "alpha-hello; " + printGamma, want: []string{"hello from alpha 1.0", "gamma={STAGE}/*"}},
	{key: "find-links", values: []string{"{WHEELS}"}, other: []string{"pip alpha", noIndex},
		payload: "alpha-hello", want: []string{"hello from alpha 1.0"}},
	{key: "no-index", other: []string{"pip alpha", findLinks},
		payload: "alpha-hello", want: []string{"hello from alpha 1.0"}},
	{key: "use", values: []string{"{DIR}/myvenv"},
		payload: `echo "VIRTUAL_ENV=$VIRTUAL_ENV"; echo "python=$(command -v python)"`,
		want:    []string{"VIRTUAL_ENV={DIR}/myvenv", "python={DIR}/myvenv/bin/python"}},
	{key: "setenv", values: []string{"E2E_GREETING=hello", "E2E_EMPTY="},
		payload: `echo "E2E_GREETING=$E2E_GREETING"; echo "E2E_EMPTY=${E2E_EMPTY-unset}"`,
		want:    []string{"E2E_GREETING=hello", "E2E_EMPTY="}},
	// stage none: built at its path in the shared cache and run from there, not from /tmp.
	{key: "stage", values: []string{"none"}, other: []string{"pip gamma", findLinks, noIndex},
		payload: printGamma, want: []string{"gamma={CACHE}/*"}},
	{key: "name", values: []string{"e2e-label"}, other: []string{"pip gamma", findLinks, noIndex},
		payload: printGamma, want: []string{"gamma={STAGE}/*"}, check: checkLabel},
}

// TestSbatchEveryKey submits, for every #ENV key, one job with the key as an #ENV line and
// one with it as a `senv sbatch` flag, and checks the job got what the key asks for.
func TestSbatchEveryKey(t *testing.T) {
	c := Require(t)
	for _, tc := range keyCases {
		for _, form := range []string{"line", "flag"} {
			t.Run(tc.key+"/"+form, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, c)
				keyFixtures(t, f)
				lines := append([]string(nil), tc.other...)
				var flags []string
				directive := strings.TrimSpace(tc.key + " " + strings.Join(tc.values, " "))
				if form == "line" {
					lines = append(lines, directive)
				} else {
					flags = keyFlags(tc.key, tc.values)
				}
				for i := range flags {
					flags[i] = f.expand(flags[i])
				}
				// What senv render must show: the #ENV line kept in the header, or the flag
				// passed on to the job's `senv activate`.
				rendered := "#ENV " + directive + "\n"
				if form == "flag" {
					rendered = " " + strings.Join(flags, " ") + " "
				}
				body := "#!/bin/bash\n"
				for _, l := range lines {
					body += "#ENV " + l + "\n"
				}
				script := f.write(t, "job.sh", body+tc.payload+"\n")
				if tc.noBuild {
					checkNoBuild(t, f, flags, rendered)
					return
				}
				out := filepath.Join(f.Dir, "job.out")
				id, _ := f.sbatch(t, append(flags, "-D", f.Dir, "-o", out, "job.sh")...)
				j := f.finish(t, id, out, jobTimeout)
				mustComplete(t, j)
				for _, w := range tc.want {
					if w = f.expand(w); !hasLine(j.Out, w) {
						t.Errorf("job output has no line %q (script %s, flags %q)", w, script, flags)
					}
				}
				if tc.check != nil {
					tc.check(t, f, j)
				}
				if t.Failed() {
					t.Logf("%s", describe(j))
				}
			})
		}
	}
}

// keyFlags turns a key and its values into senv flags: one flag per value.
func keyFlags(key string, values []string) []string {
	if len(values) == 0 {
		return []string{"--" + key}
	}
	var flags []string
	for _, v := range values {
		flags = append(flags, "--"+key, v)
	}
	return flags
}

// keyFixtures writes the files the key cases refer to: a requirements file, a pyproject.toml,
// two PEP 503 indexes over the wheelhouse, and a venv made by hand for `use`.
func keyFixtures(t *testing.T, f *fixture) {
	t.Helper()
	f.write(t, "reqs.txt", "alpha\n")
	f.write(t, "pyproject.toml", "[project]\nname = \"e2e\"\nversion = \"0\"\ndependencies = [\"gamma\"]\n")
	index := func(name string, projects map[string][]string) {
		for p, files := range projects {
			var b strings.Builder
			b.WriteString("<!DOCTYPE html>\n<html><body>\n")
			for _, w := range files {
				fmt.Fprintf(&b, "<a href=\"file://%s/%s\">%s</a>\n", f.Wheels, w, w)
			}
			b.WriteString("</body></html>\n")
			f.write(t, filepath.Join(name, "simple", p, "index.html"), b.String())
		}
	}
	index("index-ab", map[string][]string{
		"alpha": {"alpha-1.0-py3-none-any.whl"},
		"beta":  {"beta-1.0-py3-none-any.whl", "beta-1.2-py3-none-any.whl"},
	})
	index("index-g", map[string][]string{"gamma": {"gamma-2.0-py3-none-any.whl"}})
	if _, stderr, exit := f.c.AsUser(t, nil, "/usr/bin/python3", "-m", "venv", "--without-pip", filepath.Join(f.Dir, "myvenv")); exit != 0 {
		t.Fatalf("python3 -m venv: exit %d: %s", exit, stderr)
	}
}

// checkNoBuild checks a conda-family spec on a host without conda: senv check accepts it
// (warning that the builder is missing), senv render injects it (its output holds rendered),
// and senv sbatch fails with exit 1 and a clear message, queueing nothing.
func checkNoBuild(t *testing.T, f *fixture, flags []string, rendered string) {
	_, stderr, exit := f.senv(t, append(append([]string{"check"}, flags...), "job.sh")...)
	if exit != 0 {
		t.Errorf("senv check: exit %d, want 0 (a missing builder is only a warning)\n%s", exit, stderr)
	}
	if !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "conda") {
		t.Errorf("senv check: no warning that conda is missing on this host (SPEC §5); stderr:\n%s", stderr)
	}
	stdout, stderr, exit := f.senv(t, append(append([]string{"render"}, flags...), "job.sh")...)
	if exit != 0 || !strings.Contains(stdout, "senv: environment setup") || !strings.Contains(stdout, rendered) {
		t.Errorf("senv render: exit %d, want 0 and an injected block with %q\nstdout:\n%s\nstderr:\n%s", exit, rendered, stdout, stderr)
	}
	// Other subtests submit jobs meanwhile: look for this one by name, not by queue length.
	name := "e2e-conda-" + randomHex(t, 4)
	stdout, stderr, exit = f.senv(t, append(append([]string{"sbatch"}, flags...), "--parsable", "-J", name, "-D", f.Dir, "-o", filepath.Join(f.Dir, "job.out"), "job.sh")...)
	if exit != 1 {
		t.Errorf("senv sbatch: exit %d, want 1 (the environment could not be made)\n%s", exit, stderr)
	}
	if !strings.Contains(stderr, "senv: error: ") || !strings.Contains(stderr, "conda") {
		t.Errorf("senv sbatch: no clear error naming conda:\n%s", stderr)
	}
	for _, l := range strings.Split(stderr, "\n") {
		if strings.TrimSpace(l) == "senv: error:" {
			t.Errorf("senv sbatch prints an empty %q line:\n%s", l, stderr)
			break
		}
	}
	if stdout != "" {
		t.Errorf("senv sbatch printed %q on stdout: was a job submitted?", stdout)
	}
	if ids := f.c.jobsNamed(t, name); len(ids) != 0 {
		t.Errorf("senv sbatch failed but queued jobs %v", ids)
	}
}

// checkLabel: `senv ls --json` shows the env under its label.
func checkLabel(t *testing.T, f *fixture, j job) {
	stdout, stderr, exit := f.senv(t, "ls", "--json")
	if exit != 0 {
		t.Fatalf("senv ls --json: exit %d: %s", exit, stderr)
	}
	var envs []struct{ ID, Name string }
	if err := json.Unmarshal([]byte(stdout), &envs); err != nil {
		t.Fatalf("senv ls --json: %v\n%s", err, stdout)
	}
	if len(envs) != 1 || envs[0].Name != "e2e-label" {
		t.Errorf("senv ls --json: want one env named e2e-label, got %+v", envs)
	}
}

// TestSbatchRejects: broken and hostile scripts make `senv sbatch` exit 2 with the script's
// file:line on stderr, before anything is built or queued, and no value is ever executed.
func TestSbatchRejects(t *testing.T) {
	c := Require(t)
	f := newFixture(t, c)
	tests := []struct {
		name   string
		script string // placeholders as in fixture.expand
		line   int    // the line the error must point at
		want   string // more text stderr must hold
	}{
		{"unknown key", "#!/bin/bash\n#SBATCH -t 5\n#ENV pyhton 3.11\necho ran\n", 3, `did you mean "python"`},
		{"missing requirements file", "#!/bin/bash\n#ENV pip alpha\n#ENV requirements nope.txt\necho ran\n", 3, "nope.txt"},
		{"unknown module", "#!/bin/bash\n#ENV module gcc/12 cuda/99\necho ran\n", 2, "cuda/99"},
		{"bad setenv name", "#!/bin/bash\n#ENV setenv OK=1 1BAD=x\necho ran\n", 2, "1BAD"},
		{"CRLF", "#!/bin/bash\r\n#ENV pip alpha\r\necho ran\r\n", 1, "DOS"},
		{"command substitution in pip", "#!/bin/bash\n#ENV pip \"alpha$(touch {DIR}/pwned-pip)\"\necho ran\n", 2, "pip"},
		{"single key twice", "#!/bin/bash\n#ENV python 3.11\n#ENV pip alpha\n#ENV python 3.10\necho ran\n", 4, "twice"},
		{"unknown manager", "#!/bin/bash\n\n#ENV manager poetry\necho ran\n", 3, "poetry"},
		{"unclosed quote", "#!/bin/bash\n#ENV setenv \"A=b\n#ENV pip alpha\necho ran\n", 2, "quote"},
		{"semicolon in module", "#!/bin/bash\n#ENV module gcc/12;touch\\ {DIR}/pwned-mod\necho ran\n", 2, "module"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := fmt.Sprintf("bad%02d.sh", i)
			f.write(t, file, tc.script)
			name := "e2e-reject-" + randomHex(t, 4)
			before := c.QueueLen(t)
			stdout, stderr, exit := f.senv(t, "sbatch", "--parsable", "-J", name, "-D", f.Dir, "-o", filepath.Join(f.Dir, file+".out"), file)
			after := c.QueueLen(t)
			if exit != 2 {
				t.Errorf("exit %d, want 2", exit)
			}
			if pos := fmt.Sprintf("%s:%d:", file, tc.line); !strings.Contains(stderr, pos) {
				t.Errorf("stderr does not point at %s", pos)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q", tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing (no job ID)", stdout)
			}
			if ids := c.jobsNamed(t, name); len(ids) != 0 || after > before {
				t.Errorf("a job was queued: jobs named %s: %v; squeue had %d jobs, now %d", name, ids, before, after)
			}
			if t.Failed() {
				t.Logf("script:\n%s\nstderr:\n%s", f.expand(tc.script), stderr)
			}
		})
	}
	for _, m := range []string{"pwned-pip", "pwned-mod"} {
		mustNotExist(t, filepath.Join(f.Dir, m))
	}
	if envs, _ := filepath.Glob(filepath.Join(f.Cache, "v1", "envs", "*")); len(envs) != 0 {
		t.Errorf("rejected scripts built envs: %v", envs)
	}
}
