package templates

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// shells returns the POSIX shells generated code must run under: dash (what
// /bin/sh is on Debian-family nodes, and what `sbatch --wrap` gets) and bash.
func shells(t testing.TB) map[string]string {
	t.Helper()
	found := map[string]string{}
	for name, candidates := range map[string][]string{"dash": {"dash", "/usr/bin/dash", "sh"}, "bash": {"bash"}} {
		for _, c := range candidates {
			if p, err := exec.LookPath(c); err == nil {
				found[name] = p
				break
			}
		}
		if found[name] == "" {
			missing(t, name)
		}
	}
	return found
}

// missing fails in CI, where every tool must be installed, and skips
// elsewhere.
func missing(t testing.TB, tool string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; CI must have it", tool)
	}
	t.Skipf("%s is not installed; skipping (a failure when CI is set)", tool)
}

// checkSyntax runs `dash -n` and `bash -n` on script.
func checkSyntax(t *testing.T, script string) {
	t.Helper()
	path := writeTemp(t, "script.sh", script)
	for name, sh := range shells(t) {
		if out, err := exec.Command(sh, "-n", path).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s\nscript:\n%s", name, err, out, script)
		}
	}
}

// checkShellcheck runs `shellcheck -s sh` on script. Without shellcheck it
// fails in CI and logs a skip elsewhere (the other checks still ran).
func checkShellcheck(t *testing.T, script string) {
	t.Helper()
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("shellcheck is not installed; CI must have it")
		}
		t.Log("shellcheck is not installed; skipping that check")
		return
	}
	path := writeTemp(t, "script.sh", script)
	if out, err := exec.Command(sc, "-s", "sh", path).CombinedOutput(); err != nil {
		t.Errorf("shellcheck -s sh: %v\n%s\nscript:\n%s", err, out, script)
	}
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./templates -run %s -update` to create it)", err, t.Name())
	}
	if !bytes.Equal(want, []byte(got)) {
		t.Errorf("%s differs from the golden file (rerun with -update and review the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// splitNUL splits printf '%s\0' output.
func splitNUL(b []byte) []string {
	parts := strings.Split(string(b), "\x00")
	return parts[:len(parts)-1]
}
