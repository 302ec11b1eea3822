package solver

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/senv-hpc/senv/jobspec"
)

// TestRequirementsFilesAccepted: files shaped like real ones (pip-compile
// output with hashes and continuations, constraints, index options, VCS and
// URL requirements, nested -r) are accepted, every file reached is in the
// spec key, and what is asked for at top level is known by name.
func TestRequirementsFilesAccepted(t *testing.T) {
	cfg := testConfig(t)
	dir, _ := filepath.Abs("testdata/requirements")
	cases := []struct {
		file      string
		files     int // files reached
		requested []string
	}{
		{"pip-compile-hashes.txt", 1, []string{"alpha", "beta"}},
		{"constraints-and-options.txt", 2, []string{"numpy", "pywin32", "requests", "six"}},
		{"vcs-and-urls.txt", 1, []string{"delta", "theta", "zeta"}},
		{"nested.txt", 4, []string{"alpha", "beta", "numpy", "pywin32", "requests", "six"}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			s, err := Canonicalize(&jobspec.Env{Requirements: []string{tc.file}}, dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Files) != tc.files {
				t.Errorf("files reached: %q, want %d", s.Files, tc.files)
			}
			var ids []string
			for _, r := range s.Requested {
				ids = append(ids, r.ID)
			}
			sort.Strings(ids)
			if !reflect.DeepEqual(ids, tc.requested) {
				t.Errorf("requested %q, want %q", ids, tc.requested)
			}
			if !reflect.DeepEqual(s.RequirementFiles, []string{filepath.Join(dir, tc.file)}) {
				t.Errorf("the resolver is given %q, want the file itself", s.RequirementFiles)
			}
		})
	}
}

// TestRequirementsFileEditsChangeKey: the key covers every file reached: an
// edit to a constraints file two -r levels down is another spec, and so is
// a changed local source tree (but not an editable one).
func TestRequirementsFileEditsChangeKey(t *testing.T) {
	cfg := testConfig(t)
	dir := writeFiles(t, map[string]string{"top.txt": "-r mid.txt\n./pkg\n-e ./live\n", "mid.txt": "-c cons.txt\nalpha\n", "cons.txt": "alpha<2\n"})
	for _, d := range []string{"pkg", "live"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
		os.WriteFile(filepath.Join(dir, d, "pyproject.toml"), []byte("[project]\nname = \""+d+"\"\n"), 0o644)
	}
	key := func() string {
		s, err := Canonicalize(&jobspec.Env{Requirements: []string{"top.txt"}}, dir, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s.Key()
	}
	k0 := key()
	edits := []struct {
		name string
		file string
		same bool
	}{
		{"constraint", "cons.txt", false},
		{"source tree", "pkg/new.py", false},
		{"editable tree", "live/new.py", true},
	}
	for _, e := range edits {
		os.WriteFile(filepath.Join(dir, e.file), []byte("# edited\n"), 0o644)
		k := key()
		if (k == k0) != e.same {
			t.Errorf("after editing %s (%s): key %s, before %s", e.file, e.name, k, k0)
		}
		k0 = k
	}
}

// TestRequirementsFilesRefused: every refused form says FILE:LINE, what is
// wrong, and a hint; special files are refused at once (no hang, no read).
func TestRequirementsFilesRefused(t *testing.T) {
	cfg := testConfig(t)
	dir := writeFiles(t, map[string]string{
		"opt.txt":      "numpy\n--frobnicate x\n",
		"passwd.txt":   "root:x:0:0:root:/root:/bin/bash\n",
		"marker.txt":   "alpha;touch /tmp/x\n",
		"loop.txt":     "six\n-r loop2.txt\n",
		"loop2.txt":    "-r loop.txt\n",
		"fifo.txt":     "-r pipe\n",
		"zero.txt":     "-r /dev/zero\n",
		"editable.txt": "-e ./missing\n",
		"path.txt":     "\n./missing-dir\n",
		"cont.txt":     "numpy \\\n  ==1.26 \\\n  --frob\n",
		"reqopt.txt":   "numpy --index-url x\n",
		"big.txt":      strings.Repeat("# padding\n", maxRequirementsSize/10+1),
	})
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		file, where, msg string
	}{
		{"opt.txt", "opt.txt:2", `unknown option "--frobnicate"`},
		{"passwd.txt", "passwd.txt:1", "not a PEP 508 requirement"},
		{"marker.txt", "marker.txt:1", "marker"},
		{"loop.txt", "loop2.txt:1", "-r loop"},
		{"fifo.txt", "fifo.txt:1", "not a regular file (a FIFO)"},
		{"zero.txt", "zero.txt:1", "not a regular file (a character device)"},
		{"editable.txt", "editable.txt:1", "not a directory"},
		{"path.txt", "path.txt:2", "no such file"},
		{"cont.txt", "cont.txt:1", `"--frob" is not an option`},
		{"reqopt.txt", "reqopt.txt:1", `"--index-url" is not an option a requirement line may carry`},
		{"big.txt", "big.txt", "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Canonicalize(&jobspec.Env{Requirements: []string{tc.file}}, dir, cfg)
			var je *jobspec.Error
			if !errors.As(err, &je) {
				t.Fatalf("got %v, want a *jobspec.Error", err)
			}
			if !strings.Contains(je.Pos.String(), tc.where) || !strings.Contains(je.Msg, tc.msg) {
				t.Errorf("got %s: %s, want %s: ...%s...", je.Pos, je.Msg, tc.where, tc.msg)
			}
			if je.Hint == "" && tc.file != "loop.txt" {
				t.Errorf("no hint for %s", je)
			}
		})
	}
}

// TestLogicalLines: pip's joining of continued lines and its comment rule.
func TestLogicalLines(t *testing.T) {
	t.Setenv("SENV_TEST_IDX", "https://idx.example/simple")
	in := "a==1 \\\n    --hash=sha256:x \\\n    --hash=sha256:y\nsix\t# why\n# only a comment \\\nb # c\nurl#frag\n-i ${SENV_TEST_IDX}\n"
	var got []string
	for _, l := range logicalLines(in) {
		got = append(got, l.text)
	}
	want := []string{"a==1     --hash=sha256:x     --hash=sha256:y", "six", "b", "url#frag", "-i https://idx.example/simple"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestCheckLocked: a top-level requirement missing from the lock fails,
// naming it and where it was asked for; a conditional one may be absent.
func TestCheckLocked(t *testing.T) {
	l := &Lock{Packages: []Package{wheel("alpha", "1", "a"),
		{Name: "zeta", VCS: &VCS{Type: "git", URL: "file:///r/zeta", CommitID: "c"}},
		{Name: "eps", Directory: &Directory{Path: "/src/eps"}}}}
	ok := []Requested{{ID: "alpha"}, {ID: locationID("git+file:///r/zeta@main", "/")}, {ID: locationID("./eps", "/src")}, {ID: "pywin32", Conditional: true}}
	if err := CheckLocked(l, ok); err != nil {
		t.Error(err)
	}
	err := CheckLocked(l, append(ok, Requested{ID: "beta", Text: "beta>=1", Pos: jobspec.Pos{File: "r.txt", Line: 3}}))
	if err == nil || !strings.Contains(err.Error(), "beta>=1 (r.txt:3)") {
		t.Errorf("missing beta: %v", err)
	}
}

// TestManagerReadsRefused: what the chosen tool would not read as meant is
// refused before any tool runs, as a spec error (exit 2) at FILE:LINE.
func TestManagerReadsRefused(t *testing.T) {
	cfg := testConfig(t)
	dir := writeFiles(t, map[string]string{
		"prefer.txt":     "--prefer-binary\nsix\n",
		"feature.txt":    "six\n--use-feature truststore\n",
		"pylock.toml":    "lock-version = \"1.0\"\ncreated-by = \"uv\"\n\n[[packages]]\nname = \"six\"\nversion = \"1.16.0\"\nwheels = [{ url = \"file:///w/six-1.16.0-py3-none-any.whl\", hashes = { sha256 = \"aa\" } }]\n",
		"pyproject.toml": "[project]\nname = \"p\"\nversion = \"1\"\ndependencies = []\n\n[dependency-groups]\ntest = [\"six\"]\n",
	})
	cases := []struct {
		name string
		env  jobspec.Env
		want string
	}{
		{"prefer-binary with uv", jobspec.Env{Manager: "uv", Requirements: []string{"prefer.txt"}}, "prefer.txt:1: #ENV requirements: uv ignores --prefer-binary"},
		{"use-feature with uv", jobspec.Env{Manager: "uv", Requirements: []string{"feature.txt"}}, "feature.txt:2: #ENV requirements: uv ignores --use-feature"},
		{"pylock plus pip", jobspec.Env{Manager: "uv", File: "pylock.toml", Pip: []string{"numpy"}}, "is the whole environment"},
		{"groups with pip", jobspec.Env{Manager: "venv", File: "pyproject.toml", Groups: []string{"test"}}, "dependency groups need uv"},
	}
	for _, tc := range cases {
		_, err := Canonicalize(&tc.env, dir, cfg)
		var je *jobspec.Error
		if !errors.As(err, &je) || !strings.Contains(err.Error(), tc.want) || je.Hint == "" {
			t.Errorf("%s: %v, want a spec error with %q and a hint", tc.name, err, tc.want)
		}
	}
	// pip reads --prefer-binary itself
	if _, err := Canonicalize(&jobspec.Env{Manager: "venv", Requirements: []string{"prefer.txt"}}, dir, cfg); err != nil {
		t.Errorf("prefer-binary with pip: %v", err)
	}
}

// TestEnvFilesBounded (issue 11 item 3): every kind of #ENV file behind a
// symlink to /dev/zero or a FIFO is refused at once, with no read.
func TestEnvFilesBounded(t *testing.T) {
	cfg := testConfig(t)
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"environment.yml", "pyproject.toml", "pylock.toml", "pixi.lock", "req.txt"} {
		for _, target := range []string{"/dev/zero", filepath.Join(dir, "fifo")} {
			link := filepath.Join(dir, "sub-"+filepath.Base(target), name)
			os.MkdirAll(filepath.Dir(link), 0o755)
			os.Symlink(target, link)
			_, err := Canonicalize(&jobspec.Env{File: link}, dir, cfg)
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s -> %s: %v", name, target, err)
			}
		}
	}
}
