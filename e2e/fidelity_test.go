//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/internal/wheelhouse"
)

// chownUser gives path (recursively) to the test user: git refuses to read
// a repository another user owns ("dubious ownership").
func chownUser(t *testing.T, path string) {
	t.Helper()
	if out, err := exec.Command("chown", "-R", User+":", path).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v\n%s", path, err, out)
	}
}

// TestSbatchUVProject is issue 9's cluster evidence for uv projects: a
// pyproject.toml with a local [tool.uv.sources] package and its uv.lock,
// submitted with `senv sbatch`, imports exactly uv.lock's versions on the
// node, though the wheelhouse has a newer version by then.
func TestSbatchUVProject(t *testing.T) {
	c := Require(t)
	f := newFixture(t, c)
	wheels := filepath.Join(f.Dir, "project-wheels")
	if _, err := wheelhouse.BuildAll(wheels, []wheelhouse.Wheel{{Name: "alpha", Version: "1.0", Deps: []string{"beta>=1"}}, {Name: "beta", Version: "1.0"}}); err != nil {
		t.Fatal(err)
	}
	f.write(t, "proj/pyproject.toml", "[project]\nname = \"proj\"\nversion = \"0.1\"\nrequires-python = \">=3.8\"\n"+
		"dependencies = [\"alpha\", \"mylib\"]\n\n[tool.uv.sources]\nmylib = { path = \"libs/mylib\" }\n\n"+
		"[tool.uv]\nfind-links = [\""+wheels+"\"]\nno-index = true\n")
	if _, err := wheelhouse.SourceTree(filepath.Join(f.Dir, "proj", "libs"), wheelhouse.Wheel{Name: "mylib", Version: "0.9"}); err != nil {
		t.Fatal(err)
	}
	lock := exec.Command("uv", "lock", "--quiet", "--python", "/usr/bin/python3")
	lock.Dir = filepath.Join(f.Dir, "proj")
	if out, err := lock.CombinedOutput(); err != nil {
		t.Fatalf("uv lock: %v\n%s", err, out)
	}
	if _, err := wheelhouse.Build(wheels, wheelhouse.Wheel{Name: "beta", Version: "1.2"}); err != nil { // newer, not in uv.lock
		t.Fatal(err)
	}
	chownUser(t, filepath.Join(f.Dir, "proj"))
	script := f.write(t, "proj/job.sh", `#!/bin/bash
#ENV file pyproject.toml
#ENV manager uv
python -c 'import alpha, beta, mylib, sys; print("beta=" + beta.__version__); print("mylib=" + mylib.__file__); print("prefix=" + sys.prefix)'
`)
	out := filepath.Join(f.Dir, "job.out")
	id, submitLog := f.sbatch(t, "-D", f.Dir, "-o", out, script)
	j := f.finish(t, id, out, jobTimeout)
	mustComplete(t, j)
	envID := oneEnvID(t, "senv sbatch", submitLog)
	if got, _ := value(j.Out, "beta"); got != "1.0" {
		t.Errorf("beta = %q, want uv.lock's 1.0\n%s", got, describe(j))
	}
	if got, _ := value(j.Out, "prefix"); got != f.Stage+"/"+envID {
		t.Errorf("prefix = %q, want the staged env %s", got, f.Stage+"/"+envID)
	}
	if got, _ := value(j.Out, "mylib"); !strings.HasPrefix(got, f.Stage+"/"+envID+"/") {
		t.Errorf("mylib = %q: the local source package is not installed in the env", got)
	}
}

// TestSbatchVCSAndFileURL: a requirements file with a VCS requirement from
// a local git repository and a file:// wheel gives an env that holds both.
func TestSbatchVCSAndFileURL(t *testing.T) {
	c := Require(t)
	f := newFixture(t, c)
	repo, err := wheelhouse.SourceTree(filepath.Join(f.Dir, "repos"), wheelhouse.Wheel{Name: "zeta", Version: "0.7", Deps: []string{"gamma"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{{"init", "-q"}, {"add", "-A"}, {"-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "zeta"}} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, argv...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", argv, err, out)
		}
	}
	chownUser(t, repo)
	loose := filepath.Join(f.Dir, "loose")
	os.MkdirAll(loose, 0o755)
	wheel, err := wheelhouse.Build(loose, wheelhouse.Wheel{Name: "delta", Version: "3.0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"uv", "venv"} {
		t.Run(m, func(t *testing.T) {
			os.MkdirAll(filepath.Join(f.Dir, m), 0o777)
			os.Chmod(filepath.Join(f.Dir, m), 0o777) // the job writes its output here
			f.write(t, m+"/requirements.txt", "zeta @ git+file://localhost"+repo+"\ndelta @ file://"+wheel+"\n")
			script := f.write(t, m+"/job.sh", `#!/bin/bash
#ENV requirements requirements.txt
#ENV manager `+m+`
#ENV find-links {WHEELS}
#ENV no-index
python -c 'import zeta, delta, gamma; print("zeta=" + zeta.__file__); print("delta=" + delta.__file__)'
`)
			out := filepath.Join(f.Dir, m, "job.out")
			id, submitLog := f.sbatch(t, "-D", filepath.Join(f.Dir, m), "-o", out, script)
			j := f.finish(t, id, out, jobTimeout)
			mustComplete(t, j)
			prefix := f.Stage + "/" + oneEnvID(t, "senv sbatch", submitLog) + "/"
			for _, k := range []string{"zeta", "delta"} {
				if got, _ := value(j.Out, k); !strings.HasPrefix(got, prefix) {
					t.Errorf("%s = %q, want a module in the env %s\n%s", k, got, prefix, describe(j))
				}
			}
		})
	}
}
