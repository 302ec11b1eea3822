package templates

import (
	"bytes"
	"fmt"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestModuleCheck runs the module check under dash and bash with a fake
// module system (Lmod itself is tested in package check) whose load fails
// when any of its modules starts with "no": it prints exactly the missing
// modules' positions, takes one module command per ModuleGroup modules
// when none is missing and about 2k*log2(ModuleGroup) more for k missing,
// and never runs a name as code.
func TestModuleCheck(t *testing.T) {
	many := func(n int, missing ...int) []string {
		mods := make([]string, n)
		for i := range mods {
			mods[i] = fmt.Sprintf("mod%d/1.0", i+1)
		}
		for _, m := range missing {
			mods[m-1] = fmt.Sprintf("no%d/1.0", m)
		}
		return mods
	}
	cases := []struct {
		name    string
		modules []string
		missing []int
	}{
		{"one present", []string{"cuda/12.1"}, nil},
		{"one missing", []string{"nope"}, []int{1}},
		{"1000 present", many(1000), nil},
		{"1000, 2 missing", many(1000, 17, 999), []int{17, 999}},
		{"all 5 missing", many(5, 1, 2, 3, 4, 5), []int{1, 2, 3, 4, 5}},
		{"hostile names", []string{"ok/1", "no$(touch pwned)", "it's", "no`touch pwned`", "a b", "*"}, []int{2, 4}},
	}
	for name, sh := range shells(t) {
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				fm := newFakeModules(t, `printf 'call\0' >>"$SENV_TEST_LOG"
  [ "$1" = load ] || return 1
  shift
  for senv_test_m in "$@"; do case $senv_test_m in no*) return 1 ;; esac; done`)
				argv, err := ModuleCheck{ModuleInit: []string{filepath.Join(fm.dir, "missing"), fm.init}}.Command(tc.modules...)
				if err != nil {
					t.Fatal(err)
				}
				got, stderr := runModuleCheck(t, sh, argv, "SENV_TEST_LOG="+fm.log)
				if !reflect.DeepEqual(got, tc.missing) {
					t.Errorf("missing %v, want %v (stderr %q)", got, tc.missing, stderr)
				}
				// one per group, then two halves of each failing group per level
				n := len(tc.modules)
				groups := (n + ModuleGroup - 1) / ModuleGroup
				levels := bits.Len(uint(min(n, ModuleGroup) - 1))
				limit := groups + 2*len(tc.missing)*levels
				if calls := len(fm.calls(t)) - 1; calls < groups || calls > limit { // -1: the init's "sourced" line
					t.Errorf("%d module commands, want %d to %d", calls, groups, limit)
				}
			})
		}
		t.Run(name+"/no module system", func(t *testing.T) {
			argv, err := ModuleCheck{ModuleInit: []string{"/nonexistent/init.sh"}}.Command("a", "b")
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := runModuleCheck(t, sh, argv); !reflect.DeepEqual(got, []int{1, 2}) {
				t.Errorf("missing %v, want every module", got)
			}
		})
	}
}

// runModuleCheck runs argv with its /bin/sh replaced by shell, in a
// directory of files (an unquoted * would expand), and returns the
// positions it reported missing.
func runModuleCheck(t *testing.T, shell string, argv []string, env ...string) ([]int, string) {
	t.Helper()
	cwd := t.TempDir()
	os.WriteFile(filepath.Join(cwd, "a-file"), nil, 0o644)
	cmd := exec.Command(shell, argv[1:]...)
	cmd.Dir = cwd
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", shell, err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(cwd, "pwned")); err == nil {
		t.Errorf("%s: a module name was executed as code", shell)
	}
	var missing []int
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if line == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(line, "missing "))
		if err != nil || !strings.HasPrefix(line, "missing ") {
			t.Fatalf("unexpected output line %q", line)
		}
		missing = append(missing, n)
	}
	return missing, stderr.String()
}

// TestModuleCheckShellcheck: the module check passes shellcheck (STYLE.md).
func TestModuleCheckShellcheck(t *testing.T) {
	for _, init := range [][]string{{"/usr/share/lmod/lmod/init/sh"}, {"/a b/init", "/it's/init"}} {
		argv, err := ModuleCheck{ModuleInit: init}.Command("x")
		if err != nil {
			t.Fatal(err)
		}
		checkSyntax(t, argv[2])
		checkShellcheck(t, argv[2])
	}
}
