package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// lmodInit is Lmod's sh init script on Debian (the testbed's module system).
const lmodInit = "/usr/share/lmod/lmod/init/sh"

// TestLmodModulefile loads contrib/modulefiles/senv/0.1.0.lua with the real
// Lmod, installed as senv/1.2.3 with its root pointed at a temp dir: senv
// of that version is on PATH and SENV_CONFIG names its config file, and
// unloading takes both back.
func TestLmodModulefile(t *testing.T) {
	if _, err := os.Stat(lmodInit); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Lmod is not installed (%s); CI must have it", lmodInit)
		}
		t.Skipf("Lmod is not installed (%s)", lmodInit)
	}
	src, err := os.ReadFile(filepath.Join("..", "..", "contrib", "modulefiles", "senv", "0.1.0.lua"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	root := filepath.Join(tmp, "opt", "senv")
	lua := strings.Replace(string(src), `local root = "/opt/senv"`, `local root = "`+root+`"`, 1)
	if lua == string(src) {
		t.Fatal(`the modulefile no longer sets local root = "/opt/senv"; update the docs and this test`)
	}
	modules := filepath.Join(tmp, "modulefiles")
	for path, data := range map[string]string{
		filepath.Join(modules, "senv", "1.2.3.lua"):        lua,
		filepath.Join(root, "1.2.3", "bin", "senv"):        "#!/bin/sh\necho senv 1.2.3\n",
		filepath.Join(root, "1.2.3", "etc", "config.toml"): "",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := `. "$1" && module load senv/1.2.3 && senv && echo "config=$SENV_CONFIG" && module unload senv && echo "after=${SENV_CONFIG-unset} $(command -v senv || echo none)"`
	cmd := exec.Command("/bin/sh", "-c", script, "sh", lmodInit)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + tmp, "MODULEPATH=" + modules}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("module load senv: %v\n%s", err, out)
	}
	want := "senv 1.2.3\nconfig=" + filepath.Join(root, "1.2.3", "etc", "config.toml") + "\nafter=unset none\n"
	if string(out) != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}
