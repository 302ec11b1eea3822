package templates

import "fmt"

// ShellRC is the startup code of an interactive shell that `senv shell`
// starts: it reads the user's own startup file first, then runs the
// activation block on top of it, marks the prompt and removes Dir, where
// its files were written, once they have been read.
type ShellRC struct {
	Block  string // the activation block, as Activation.Render returned it (Exit set)
	Prompt string // prepended to PS1, e.g. "(senv:train|3da8f8c199244f6b) "
	Dir    string // the private directory holding the startup files
	// UserZDOTDIR is the ZDOTDIR the user had, if UserZDOTDIRSet (zsh only).
	UserZDOTDIR    string
	UserZDOTDIRSet bool
}

// Bash returns the file for `bash --rcfile FILE -i`.
func (r ShellRC) Bash() (string, error) {
	if err := r.check(); err != nil {
		return "", err
	}
	return execute("bashrc.tmpl", r)
}

// Zsh returns the .zshenv and .zshrc for a `zsh -i` whose ZDOTDIR is Dir.
func (r ShellRC) Zsh() (zshenv, zshrc string, err error) {
	if err := r.check(); err != nil {
		return "", "", err
	}
	if zshenv, err = execute("zshenv.tmpl", r); err != nil {
		return "", "", err
	}
	zshrc, err = execute("zshrc.tmpl", r)
	return zshenv, zshrc, err
}

func (r ShellRC) check() error {
	if r.Dir == "" {
		return fmt.Errorf("failed to render shell startup file: no directory")
	}
	return nil
}
