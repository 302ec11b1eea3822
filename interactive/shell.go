package interactive

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/templates"
	"github.com/senv-hpc/senv/wrapper"
)

// ShellKinds are the shells `senv shell` knows how to start, by the base
// name of their binary.
var ShellKinds = []string{"bash", "zsh"}

// ShellKind returns which of ShellKinds the shell binary at path is.
func ShellKind(path string) (string, error) {
	base := filepath.Base(path)
	for _, k := range ShellKinds {
		if base == k || strings.HasPrefix(base, k+"-") { // zsh-5.9: a versioned binary
			return k, nil
		}
	}
	return "", fmt.Errorf("failed to start shell %s: senv shell starts %s (set SHELL or pass --shell)", path, strings.Join(ShellKinds, " or "))
}

// labelRe is what a prompt label may hold: nothing a shell's prompt
// expansion reads (bash's \ and $, zsh's %).
var labelRe = regexp.MustCompile(`[^A-Za-z0-9._+-]+`)

// Label returns the name an env is shown by in a prompt or a kernel's
// display name: #ENV name, else the script's base name without its
// extension, else "env".
func Label(name, script string) string {
	if name == "" && script != "" {
		name = strings.TrimSuffix(filepath.Base(script), filepath.Ext(script))
	}
	name = strings.Trim(labelRe.ReplaceAllString(name, "_"), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	if name == "" {
		name = "env"
	}
	return name
}

// Prompt is what senv puts before the shell's prompt: "(senv:LABEL|ID) ",
// or "(senv:LABEL) " for an env of modules only.
func Prompt(label, id string) string {
	if id == "" {
		return "(senv:" + label + ") "
	}
	return "(senv:" + label + "|" + id + ") "
}

// Shell is an interactive shell to start in a prepared environment.
type Shell struct {
	Path   string // the shell binary: the user's $SHELL
	Prompt string // see Prompt
	TmpDir string // where the startup files go; "" for os.TempDir
}

// Exec replaces this process with the shell, running in p's environment.
// The shell inherits senv's lease on the env (wrapper.Prepare took it on a
// descriptor that survives exec), so the env stays for the shell's life
// and is released when it exits. The startup files are written to a
// private temporary directory that the shell removes once it has read
// them. Exec returns only on failure, after removing that directory.
func (s Shell) Exec(e wrapper.Execer, p *wrapper.Prepared) error {
	argv, env, dir, err := s.Command(p, os.Environ())
	if err != nil {
		return err
	}
	err = e.Exec(argv, env)
	os.RemoveAll(dir)
	return err
}

// Command writes the startup files and returns the argv and environment
// that start the shell, and the directory the files are in (the caller
// removes it if the shell does not start). environ is the environment to
// start from.
func (s Shell) Command(p *wrapper.Prepared, environ []string) (argv, env []string, dir string, err error) {
	kind, err := ShellKind(s.Path)
	if err != nil {
		return nil, nil, "", err
	}
	act := p.Activation
	act.Exit = true // a shell whose env failed to activate must not look like one that did
	act.Lease = ""  // senv holds it, on a descriptor the shell inherits
	block, err := act.Render()
	if err != nil {
		return nil, nil, "", err
	}
	tmp := s.TmpDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	var trust *envs.Trust
	if p.Store != nil {
		trust = p.Store.Cache.Trust
	}
	if err := envs.CheckTempDir(tmp, trust); err != nil { // the shell runs what it holds
		return nil, nil, "", fmt.Errorf("failed to create shell startup dir: %w", err)
	}
	dir, err = os.MkdirTemp(tmp, "senv-shell-")
	if err != nil {
		return nil, nil, "", fmt.Errorf("failed to create shell startup dir: %w", err)
	}
	rc := templates.ShellRC{Block: block, Prompt: s.Prompt, Dir: dir}
	env = environ
	switch kind {
	case "bash":
		var text string
		if text, err = rc.Bash(); err == nil {
			path := filepath.Join(dir, "bashrc")
			err = writeFile(path, text)
			argv = []string{s.Path, "--rcfile", path, "-i"}
		}
	case "zsh":
		rc.UserZDOTDIR, rc.UserZDOTDIRSet = lookupEnv(environ, "ZDOTDIR")
		var zshenv, zshrc string
		if zshenv, zshrc, err = rc.Zsh(); err == nil {
			err = writeFile(filepath.Join(dir, ".zshenv"), zshenv)
		}
		if err == nil {
			err = writeFile(filepath.Join(dir, ".zshrc"), zshrc)
		}
		argv = []string{s.Path, "-i"}
		env = append(withoutEnv(environ, "ZDOTDIR"), "ZDOTDIR="+dir)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, "", err
	}
	return argv, env, dir, nil
}

func writeFile(path, text string) error {
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("failed to write shell startup file: %w", err)
	}
	return nil
}

// lookupEnv is os.LookupEnv over an environment list.
func lookupEnv(environ []string, name string) (string, bool) {
	for i := len(environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(environ[i], name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// withoutEnv returns environ without name.
func withoutEnv(environ []string, name string) []string {
	var out []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
