package check

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
)

// lmodInit is Lmod's sh init script on Debian (the testbed's module system).
const lmodInit = "/usr/share/lmod/lmod/init/sh"

// lmodTree writes a real Lmod modulefile tree: m1/1.0 ... mN/1.0, and
// broken/1.0, which exists but fails to load.
func lmodTree(t *testing.T, n int) string {
	t.Helper()
	root := t.TempDir()
	write := func(name, body string) {
		path := filepath.Join(root, name+".lua")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= n; i++ {
		write(fmt.Sprintf("m%d/1.0", i), fmt.Sprintf("setenv(\"SENV_TEST_M%d\", \"1\")\n", i))
	}
	write("broken/1.0", "LmodError(\"broken on purpose\")\n")
	return root
}

// countShells makes the check run its shell through a wrapper that counts
// the runs, and returns the count file.
func countShells(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	count, wrapper := filepath.Join(dir, "count"), filepath.Join(dir, "sh")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\necho run >>"+count+"\nexec /bin/sh \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := shell
	shell = wrapper
	t.Cleanup(func() { shell = old })
	return count
}

// modules returns "#ENV module" lines naming mFrom/1.0 ... mTo/1.0, perLine
// a line.
func moduleLines(from, to, perLine int) string {
	var b strings.Builder
	for i := from; i <= to; i += perLine {
		b.WriteString("#ENV module")
		for j := i; j < i+perLine && j <= to; j++ {
			fmt.Fprintf(&b, " m%d/1.0", j)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestModulesLmod: `senv check` asks the real Lmod about every module in
// one shell (it started one shell, and Lmod, per module: 1,000 modules took
// 143 s), and still names each missing module at its FILE:LINE: unknown
// names and a module that exists but fails to load. (Hostile names are
// refused by the parser, and passed as arguments, never as code, by the
// script: see templates.TestModuleCheck.)
func TestModulesLmod(t *testing.T) {
	if _, err := os.Stat(lmodInit); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Lmod is not installed (%s); CI must have it", lmodInit)
		}
		t.Skipf("Lmod is not installed (%s)", lmodInit)
	}
	t.Setenv("MODULEPATH", lmodTree(t, 200))
	t.Setenv("HOME", t.TempDir()) // no user spider cache
	cases := []struct {
		name   string
		env    string // the #ENV lines, from line 2
		errors []string
	}{
		{name: "200 present", env: moduleLines(1, 200, 50)},
		{name: "missing among present", env: "#ENV module m1/1.0 nope/1 m2/1.0\n" + moduleLines(3, 10, 4) +
			"#ENV module zz/9 m11/1.0 broken/1.0\n",
			errors: []string{
				"job.sh:2: #ENV module: nope/1: no such module",
				"job.sh:5: #ENV module: zz/9: no such module",
				"job.sh:5: #ENV module: broken/1.0: no such module",
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			count := countShells(t)
			s, err := jobspec.Parse(strings.NewReader("#!/bin/bash\n"+tc.env+"echo hi\n"), "job.sh")
			if err != nil {
				t.Fatal(err)
			}
			errs := Modules(s, &config.Config{ModuleInit: []string{"/nonexistent/init", lmodInit}})
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
				if !strings.HasPrefix(e.Hint, "see `module avail` or `module spider ") {
					t.Errorf("%s: hint %q", e, e.Hint)
				}
			}
			if !reflect.DeepEqual(got, tc.errors) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.errors, "\n"))
			}
			b, _ := os.ReadFile(count)
			if n := strings.Count(string(b), "run\n"); n != 1 {
				t.Errorf("%d shells for %d modules, want 1", n, len(s.Env.Modules))
			}
		})
	}
}

// TestModulesHungModuleSystem_FakeInit: a module system that hangs (a fake
// init script whose child holds the pipe: a hung filesystem cannot be made
// here) is given up at moduleCheckTimeout with one error at the first
// module's line saying so, not an error per module calling it missing.
// Before, `senv check` waited for it for ever.
func TestModulesHungModuleSystem_FakeInit(t *testing.T) {
	init := filepath.Join(t.TempDir(), "init.sh")
	if err := os.WriteFile(init, []byte("sleep 60 &\nsleep 60\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := moduleCheckTimeout
	moduleCheckTimeout = 200 * time.Millisecond
	t.Cleanup(func() { moduleCheckTimeout = saved })
	s, err := jobspec.Parse(strings.NewReader("#!/bin/bash\n#SBATCH -n 1\n#ENV module gcc/12\n#ENV module cuda/12\necho hi\n"), "job.sh")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	errs := Modules(s, &config.Config{ModuleInit: []string{init}})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the module check took %s with a 200 ms bound", took.Round(time.Millisecond))
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "job.sh:3") || !strings.Contains(errs[0].Error(), "did not answer") {
		t.Errorf("errors %v, want one at job.sh:3 saying the module system did not answer", errs)
	}
}
