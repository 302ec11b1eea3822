package solver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/internal/wheelhouse"
	"github.com/senv-hpc/senv/jobspec"
)

var update = flag.Bool("update", false, "rewrite the corpus golden files")

// corpusWheels is the index every corpus case resolves against: the
// packages real requirements files name, with their real dependency
// graphs (versions from mid-2024), as tiny wheels.
var corpusWheels = []wheelhouse.Wheel{
	{Name: "numpy", Version: "1.26.4"}, {Name: "numpy", Version: "2.0.2"},
	{Name: "scipy", Version: "1.13.1", Deps: []string{"numpy<2.3,>=1.22.4"}},
	{Name: "pandas", Version: "2.2.2", Deps: []string{"numpy>=1.23.2", "python-dateutil>=2.8.2", "pytz>=2020.1", "tzdata>=2022.7"}},
	{Name: "python-dateutil", Version: "2.9.0.post0", Deps: []string{"six>=1.5"}},
	{Name: "six", Version: "1.16.0"}, {Name: "six", Version: "1.17.0"},
	{Name: "pytz", Version: "2024.1"}, {Name: "tzdata", Version: "2024.1"},
	{Name: "requests", Version: "2.31.0", Deps: []string{"charset-normalizer<4,>=2", "idna<4,>=2.5", "urllib3<3,>=1.21.1", "certifi>=2017.4.17"}},
	{Name: "requests", Version: "2.32.3", Deps: []string{"charset-normalizer<4,>=2", "idna<4,>=2.5", "urllib3<3,>=1.21.1", "certifi>=2017.4.17",
		`PySocks!=1.5.7,>=1.5.6; extra == "socks"`}},
	{Name: "pysocks", Version: "1.7.1"},
	{Name: "charset-normalizer", Version: "3.3.2"}, {Name: "idna", Version: "3.7"},
	{Name: "urllib3", Version: "1.26.19"}, {Name: "urllib3", Version: "2.2.2"},
	{Name: "certifi", Version: "2024.7.4"},
	{Name: "click", Version: "8.1.7"},
	{Name: "rich", Version: "13.7.1", Deps: []string{"markdown-it-py>=2.2.0", "pygments<3.0.0,>=2.13.0"}},
	{Name: "markdown-it-py", Version: "3.0.0", Deps: []string{"mdurl~=0.1"}},
	{Name: "mdurl", Version: "0.1.2"}, {Name: "pygments", Version: "2.18.0"},
	{Name: "pyyaml", Version: "6.0.1"}, {Name: "tqdm", Version: "4.66.4"}, {Name: "attrs", Version: "23.2.0"},
	{Name: "tomli", Version: "2.0.1"}, {Name: "pywin32", Version: "306"},
	{Name: "tinyrelease", Version: "1.0"}, {Name: "tinyrelease", Version: "1.1rc1"},
	{Name: "torch", Version: "2.3.1", Deps: []string{"filelock", "typing-extensions>=4.8.0", "sympy", "networkx", "jinja2", "fsspec"}},
	{Name: "filelock", Version: "3.15.4"}, {Name: "typing-extensions", Version: "4.12.2"},
	{Name: "sympy", Version: "1.13.0", Deps: []string{"mpmath<1.4,>=1.1.0"}}, {Name: "mpmath", Version: "1.3.0"},
	{Name: "networkx", Version: "3.3"}, {Name: "fsspec", Version: "2024.6.1"},
	{Name: "jinja2", Version: "3.1.4", Deps: []string{"MarkupSafe>=2.0"}}, {Name: "markupsafe", Version: "2.1.5"},
	{Name: "pytest", Version: "8.2.2", Deps: []string{"iniconfig", "packaging", "pluggy<2.0,>=1.5"}},
	{Name: "iniconfig", Version: "2.0.0"}, {Name: "packaging", Version: "24.1"}, {Name: "pluggy", Version: "1.5.0"},
	{Name: "flask", Version: "3.0.3", Deps: []string{"Werkzeug>=3.0.0", "Jinja2>=3.1.2", "itsdangerous>=2.1.2", "click>=8.1.3", "blinker>=1.6.2"}},
	{Name: "werkzeug", Version: "3.0.3", Deps: []string{"MarkupSafe>=2.1.1"}},
	{Name: "itsdangerous", Version: "2.2.0"}, {Name: "blinker", Version: "1.8.2"},
	{Name: "scikit-learn", Version: "1.5.1", Deps: []string{"numpy>=1.19.5", "scipy>=1.6.0", "joblib>=1.2.0", "threadpoolctl>=3.1.0"}},
	{Name: "joblib", Version: "1.4.2"}, {Name: "threadpoolctl", Version: "3.5.0"},
	{Name: "matplotlib", Version: "3.9.1", Deps: []string{"contourpy>=1.0.1", "cycler>=0.10", "fonttools>=4.22.0", "kiwisolver>=1.3.1",
		"numpy>=1.23", "packaging>=20.0", "pillow>=8", "pyparsing>=2.3.1", "python-dateutil>=2.7"}},
	{Name: "contourpy", Version: "1.2.1", Deps: []string{"numpy>=1.20"}}, {Name: "cycler", Version: "0.12.1"},
	{Name: "fonttools", Version: "4.53.1"}, {Name: "kiwisolver", Version: "1.4.5"}, {Name: "pillow", Version: "10.4.0"},
	{Name: "pyparsing", Version: "3.1.2"},
	{Name: "alpha", Version: "1.0", Deps: []string{"beta>=1"}}, {Name: "beta", Version: "1.0"}, {Name: "gamma", Version: "2.0"},
}

// corpusFixture is the corpus copied into a temp dir with its
// placeholders filled: the wheelhouse, a loose wheel, source trees and a git
// repository with a tag.
type corpusFixture struct {
	dir    string // the expanded corpus
	repl   *strings.Replacer
	back   *strings.Replacer // temp paths back to placeholders, for goldens
	env    []string
	python string
}

func newCorpusFixture(t *testing.T) *corpusFixture {
	t.Helper()
	root := t.TempDir()
	wheels, loose, src := filepath.Join(root, "wheels"), filepath.Join(root, "loose"), filepath.Join(root, "src")
	if _, err := wheelhouse.BuildAll(wheels, corpusWheels); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(loose, 0o755)
	if _, err := wheelhouse.Build(loose, wheelhouse.Wheel{Name: "delta", Version: "3.0"}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []wheelhouse.Wheel{{Name: "epsilon", Version: "0.5", Deps: []string{"gamma"}}, {Name: "live", Version: "0.1"}} {
		if _, err := wheelhouse.SourceTree(src, w); err != nil {
			t.Fatal(err)
		}
	}
	repo, err := wheelhouse.SourceTree(filepath.Join(root, "repos"), wheelhouse.Wheel{Name: "zeta", Version: "0.7", Deps: []string{"gamma"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{{"init", "-q"}, {"add", "-A"}, {"-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "zeta 0.7"}, {"tag", "v0.7"}} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, argv...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", argv, err, out)
		}
	}
	commit, err := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	pairs := []string{"{{WHEELS}}", wheels, "{{LOOSE}}", loose, "{{SRC}}", src, "{{REPO}}", repo, "{{COMMIT}}", strings.TrimSpace(string(commit))}
	for _, w := range corpusWheels {
		data, err := os.ReadFile(filepath.Join(wheels, wheelFile(w)))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		pairs = append(pairs, fmt.Sprintf("{{sha256 %s %s}}", w.Name, w.Version), hex.EncodeToString(sum[:]))
	}
	f := &corpusFixture{dir: filepath.Join(root, "corpus"), repl: strings.NewReplacer(pairs...),
		back: strings.NewReplacer(strings.TrimSpace(string(commit)), "{{COMMIT}}", wheels, "{{WHEELS}}", loose, "{{LOOSE}}", src, "{{SRC}}", repo, "{{REPO}}", root, "{{ROOT}}"),
		env:  []string{"SENV_CORPUS_WHEELS=" + wheels}, python: corpusPython(t)}
	err = filepath.WalkDir("testdata/corpus", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel("testdata/corpus", p)
		if strings.HasPrefix(rel, "golden/") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(f.dir, rel)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		return os.WriteFile(dst, []byte(f.repl.Replace(string(data))), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func wheelFile(w wheelhouse.Wheel) string {
	return strings.ToLower(strings.NewReplacer("-", "_", ".", "_").Replace(w.Name)) + "-" + w.Version + "-py3-none-any.whl"
}

// corpusCase is one input of the corpus and how a user asks senv for it.
type corpusCase struct {
	name string
	env  jobspec.Env
	dir  string // where the job is submitted from
	// prepare runs before the solve (uv lock, source trees)
	prepare func(t *testing.T)
}

// testTmpRe matches a test's temp dir (t.TempDir), which differs per run.
var testTmpRe = regexp.MustCompile(regexp.QuoteMeta(os.TempDir()) + `/Test[^/\s]+/[0-9]+`)

// pythonArgRe matches the interpreter a solve ran with, which differs per machine.
var pythonArgRe = regexp.MustCompile(`--python \S+`)

var corpusNameRe = regexp.MustCompile(`^([rpyel][0-9]+-[a-z0-9-]+)(\.txt|\.py)?$|^pylock\.(l[0-9]+-[a-z0-9-]+)\.toml$`)

func (f *corpusFixture) cases(t *testing.T) []corpusCase {
	t.Helper()
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	var cases []corpusCase
	for _, e := range entries {
		m := corpusNameRe.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		c := corpusCase{name: m[1] + m[3], dir: f.dir}
		switch {
		case strings.HasPrefix(e.Name(), "pylock."):
			c.env = jobspec.Env{File: e.Name()}
		case m[2] == ".txt":
			c.env = jobspec.Env{Requirements: []string{e.Name()}}
		case m[2] == ".py":
			data, _ := os.ReadFile(filepath.Join(f.dir, e.Name()))
			s, err := jobspec.Parse(strings.NewReader(string(data)), e.Name())
			if err != nil {
				c.env = jobspec.Env{Name: "parse error: " + err.Error()}
			} else {
				c.env = s.Env
			}
		case e.IsDir():
			c.dir = filepath.Join(f.dir, e.Name())
			c.env = jobspec.Env{File: "pyproject.toml"}
			if data, err := os.ReadFile(filepath.Join(c.dir, "ENV")); err == nil {
				for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
					key, val, _ := strings.Cut(line, " ")
					switch key {
					case "extra":
						c.env.Extras = append(c.env.Extras, val)
					case "group":
						c.env.Groups = append(c.env.Groups, val)
					}
				}
			}
			c.prepare = f.prepareProject(c.dir)
		}
		cases = append(cases, c)
	}
	return cases
}

// prepareProject makes a project case's source trees (TREES: "tree NAME
// VERSION DEPS...") and in-tree backend (BACKEND), and its uv.lock (LOCK)
// with the real uv.
func (f *corpusFixture) prepareProject(dir string) func(t *testing.T) {
	return func(t *testing.T) {
		t.Helper()
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.Name() != "TREES" {
				return err
			}
			data, _ := os.ReadFile(p)
			for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				w := strings.Fields(line)
				if _, err := wheelhouse.SourceTree(filepath.Dir(p), wheelhouse.Wheel{Name: w[1], Version: w[2], Deps: w[3:]}); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		})
		if _, err := os.Stat(filepath.Join(dir, "BACKEND")); err == nil {
			tmp := t.TempDir()
			tree, _ := wheelhouse.SourceTree(tmp, wheelhouse.Wheel{Name: "x", Version: "0"})
			os.MkdirAll(filepath.Join(dir, "_backend"), 0o755)
			data, _ := os.ReadFile(filepath.Join(tree, "_backend", "tinybackend.py"))
			os.WriteFile(filepath.Join(dir, "_backend", "tinybackend.py"), data, 0o644)
		}
		if _, err := os.Stat(filepath.Join(dir, "LOCK")); err == nil {
			cmd := exec.Command("uv", "lock", "--quiet", "--python", corpusPython(t))
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("uv lock: %v\n%s", err, out)
			}
		}
	}
}

func corpusPython(t *testing.T) string {
	if p, err := exec.LookPath("python3.11"); err == nil {
		return p
	}
	t.Fatal("the corpus needs python3.11")
	return ""
}

// render is a lock as the golden files show it: one line per package,
// sorted, with its kind, and paths as placeholders.
func (f *corpusFixture) render(l *Lock, err error) string {
	if err != nil {
		msg := testTmpRe.ReplaceAllString(f.back.Replace(err.Error()), "{{TMP}}")
		return "error: " + pythonArgRe.ReplaceAllString(msg, "--python {{PYTHON}}") + "\n"
	}
	var lines []string
	for _, p := range l.Packages {
		line := p.Name
		if p.Version != "" {
			line += "==" + p.Version
		}
		switch p.Kind() {
		case "vcs":
			line += " vcs " + p.VCS.URL + "@" + p.VCS.CommitID
		case "directory":
			line += " directory " + p.Directory.Path
			if p.Directory.Editable {
				line += " editable"
			}
		case "archive":
			line += " archive " + firstNonEmpty(p.Archive.URL, "file://"+p.Archive.Path)
		}
		if p.Marker != "" {
			line += " ; " + p.Marker
		}
		lines = append(lines, f.back.Replace(line))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// pins is the name==version set of a lock, for comparing resolvers.
func pins(l *Lock) []string {
	var out []string
	for _, p := range l.Packages {
		if p.Kind() == "registry" {
			out = append(out, p.Name+"=="+p.Version)
		} else {
			out = append(out, p.Name+"==") // uv's requirements output names no version for these
		}
	}
	sort.Strings(out)
	return out
}

// TestCorpus runs every file of testdata/corpus (requirements files of
// every shape pip's format has, PEP 723 scripts, pyprojects static and
// dynamic, uv projects with uv.lock, pylock.toml files of uv and pip, and
// refused forms) through senv's solve with the real uv, and compares the
// lock with the golden file (rerun with -update and review the diff). For
// requirements files and static pyprojects, pip (manager venv) must lock
// the same versions as uv, and uv run directly must resolve what senv
// locked.
func TestCorpus(t *testing.T) {
	if _, err := exec.LookPath("uv"); err != nil {
		t.Fatal("the corpus needs uv (pip install uv)")
	}
	f := newCorpusFixture(t)
	for _, kv := range f.env { // not t.Setenv: the cases run in parallel
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
		defer os.Unsetenv(k)
	}
	wheels := f.repl.Replace("{{WHEELS}}")
	loose := f.repl.Replace("{{LOOSE}}")
	cases := f.cases(t)
	if len(cases) < 60 {
		t.Errorf("the corpus has %d cases, want at least 60", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.prepare != nil {
				c.prepare(t)
			}
			lock, err := f.solve(t, c, "uv", wheels, loose)
			got := f.render(lock, err)
			golden := filepath.Join("testdata", "corpus", "golden", c.name+".golden")
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, _ := os.ReadFile(golden)
			if got != string(want) {
				t.Errorf("%s differs (rerun with -update and review the diff)\ngot:\n%swant:\n%s", golden, got, want)
			}
			if err != nil || !crossCheck(c) {
				return
			}
			pipLock, err := f.solve(t, c, "venv", wheels, loose)
			if err != nil {
				t.Errorf("pip could not lock what uv locked: %v", err)
			} else if a, b := pins(pipLock), pins(lock); strings.Join(a, " ") != strings.Join(b, " ") {
				t.Errorf("pip locks %q, uv %q", a, b)
			}
			if len(c.env.Requirements) > 0 {
				direct := uvCompile(t, c, wheels, loose)
				if strings.Join(direct, " ") != strings.Join(pins(lock), " ") {
					t.Errorf("uv pip compile resolves %q, senv locked %q", direct, pins(lock))
				}
			}
		})
	}
}

// crossCheck: the cases that pip reads as uv does (pip has no dependency
// groups, no [tool.uv], no pylock install).
func crossCheck(c corpusCase) bool {
	if c.env.File == "" {
		return true
	}
	if c.env.File != "pyproject.toml" || len(c.env.Groups) > 0 {
		return false
	}
	data, _ := os.ReadFile(filepath.Join(c.dir, "pyproject.toml"))
	_, err := os.Stat(filepath.Join(c.dir, "uv.lock"))
	return !strings.Contains(string(data), "[tool.uv") && err != nil
}

func (f *corpusFixture) solve(t *testing.T, c corpusCase, manager, wheels, loose string) (*Lock, error) {
	t.Helper()
	if strings.HasPrefix(c.env.Name, "parse error: ") {
		return nil, fmt.Errorf("%s", strings.TrimPrefix(c.env.Name, "parse error: "))
	}
	cfg, err := config.Load(func(string) string { return "" }, map[string]string{
		"cache_dir": t.TempDir(), "stage_dir": t.TempDir(), "python": corpusPython(t)})
	if err != nil {
		t.Fatal(err)
	}
	env := c.env
	env.Manager = manager
	env.FindLinks = []string{wheels, loose}
	env.NoIndex = true
	if env.Python == "" {
		env.Python = "3.11"
	}
	spec, err := Canonicalize(&env, c.dir, cfg)
	if err != nil {
		return nil, err
	}
	return Solve(context.Background(), spec, cfg, t.TempDir())
}

// uvCompile runs `uv pip compile` on a requirements case itself.
func uvCompile(t *testing.T, c corpusCase, wheels, loose string) []string {
	t.Helper()
	args := []string{"pip", "compile", "--quiet", "--no-header", "--no-annotate", "--no-index", "--find-links", wheels, "--find-links", loose,
		"--python", corpusPython(t)}
	if data, _ := os.ReadFile(filepath.Join(c.dir, c.env.Requirements[0])); strings.Contains(string(data), "--pre\n") {
		args = append(args, "--prerelease", "allow") // uv ignores --pre in a file (senv passes it on)
	}
	cmd := exec.Command("uv", append(args, c.env.Requirements...)...)
	cmd.Dir = c.dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("uv pip compile: %v", err)
	}
	var got []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "-e "))
		if line == "" || strings.HasPrefix(line, "--") || strings.HasPrefix(line, "#") {
			continue
		}
		if name, ver, ok := strings.Cut(strings.Fields(line)[0], "=="); ok {
			got = append(got, normName(name)+"=="+ver)
			continue
		}
		// name @ URL, or a path: the version is the one senv's lock knows
		name := strings.Fields(line)[0]
		if strings.Contains(name, "/") {
			name = filepath.Base(name)
		}
		got = append(got, normName(name)+"==")
	}
	sort.Strings(got)
	return got
}
