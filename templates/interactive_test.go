package templates

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestShellRC renders the startup files of `senv shell` for hostile values
// (a quote, $, a newline) and checks them: golden, bash -n and shellcheck
// for bash, zsh -n for zsh (shellcheck does not read zsh).
func TestShellRC(t *testing.T) {
	block, err := Activation{ModuleInit: []string{"/usr/share/lmod/lmod/init/sh"}, Modules: []string{"cuda/12.1"},
		Kind: "venv", Prefix: "/tmp/senv-1000/3da8f8c199244f6b", Ready: "/tmp/senv-1000/.senv/3da8f8c199244f6b.done", Exit: true}.Render()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		rc   ShellRC
	}{
		{"plain", ShellRC{Block: block, Prompt: "(senv:train|3da8f8c199244f6b) ", Dir: "/tmp/senv-shell-123"}},
		{"hostile", ShellRC{Block: block, Prompt: "(senv:it's $HOME `x`) ", Dir: "/tmp/a dir/it's\n$(x)",
			UserZDOTDIR: "/home/u/'z d'", UserZDOTDIRSet: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bash, err := tc.rc.Bash()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("shellrc", tc.name+".bash"), bash)
			path := writeTemp(t, "bashrc", bash)
			if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
				t.Errorf("bash -n: %v\n%s", err, out)
			}
			if sc, err := exec.LookPath("shellcheck"); err == nil {
				if out, err := exec.Command(sc, "-s", "bash", path).CombinedOutput(); err != nil {
					t.Errorf("shellcheck -s bash: %v\n%s", err, out)
				}
			} else {
				missing(t, "shellcheck")
			}
			zshenv, zshrc, err := tc.rc.Zsh()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("shellrc", tc.name+".zshenv"), zshenv)
			golden(t, filepath.Join("shellrc", tc.name+".zshrc"), zshrc)
			zsh, err := exec.LookPath("zsh")
			if err != nil {
				missing(t, "zsh")
			}
			for name, text := range map[string]string{"zshenv": zshenv, "zshrc": zshrc} {
				if out, err := exec.Command(zsh, "-n", writeTemp(t, name, text)).CombinedOutput(); err != nil {
					t.Errorf("zsh -n %s: %v\n%s", name, err, out)
				}
			}
		})
	}
}

// TestShellRCNeedsDir: without a directory there is nothing to remove, and
// nothing to point ZDOTDIR at.
func TestShellRCNeedsDir(t *testing.T) {
	if _, err := (ShellRC{Block: ":\n"}).Bash(); err == nil {
		t.Error("Bash rendered without a Dir")
	}
	if _, _, err := (ShellRC{Block: ":\n"}).Zsh(); err == nil {
		t.Error("Zsh rendered without a Dir")
	}
}
