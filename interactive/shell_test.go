package interactive_test

import (
	"testing"

	"github.com/senv-hpc/senv/interactive"
)

func TestShellKind(t *testing.T) {
	tests := []struct {
		path, want string
	}{
		{"/bin/bash", "bash"},
		{"/usr/local/bin/zsh", "zsh"},
		{"zsh-5.9", "zsh"},
		{"/bin/sh", ""},
		{"/usr/bin/fish", ""},
		{"/opt/bashful", ""},
	}
	for _, tc := range tests {
		got, err := interactive.ShellKind(tc.path)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("ShellKind(%q) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
}

func TestPrompt(t *testing.T) {
	tests := []struct {
		name, script, id, want string
	}{
		{"train", "", "3da8f8c199244f6b", "(senv:train|3da8f8c199244f6b) "},
		{"", "/home/u/jobs/train.sh", "3da8f8c199244f6b", "(senv:train|3da8f8c199244f6b) "},
		{"", "", "3da8f8c199244f6b", "(senv:env|3da8f8c199244f6b) "},
		{"", "", "", "(senv:env) "},
		// what a prompt would expand is replaced: bash's \ $ `, zsh's %
		{`a$(x)\w%n`, "", "3da8f8c199244f6b", "(senv:a_x_w_n|3da8f8c199244f6b) "},
	}
	for _, tc := range tests {
		if got := interactive.Prompt(interactive.Label(tc.name, tc.script), tc.id); got != tc.want {
			t.Errorf("Prompt(Label(%q, %q), %q) = %q, want %q", tc.name, tc.script, tc.id, got, tc.want)
		}
	}
}
