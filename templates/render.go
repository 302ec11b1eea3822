package templates

import (
	"bytes"
	"embed"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

//go:embed sh/*.tmpl
var files embed.FS

var tmpl = template.Must(template.New("").Funcs(template.FuncMap{
	"q":    Quote,
	"qall": QuoteAll,
	"join": strings.Join,
}).ParseFS(files, "sh/*.tmpl"))

// Var is one NAME=VALUE pair to export.
type Var struct {
	Name  string
	Value string
}

// Activation is what the activation block sets up, in this order: the module
// system (if `module` is missing), the modules, the environment, the
// variables.
type Activation struct {
	ModuleInit []string // module system init scripts to try, first readable wins
	Modules    []string
	Kind       string // "venv", "conda" or "" (modules only)
	Prefix     string // absolute path of the environment
	Lease      string // file to hold a shared flock on while the shell lives; "" for none
	Ready      string // the env's completeness marker, checked (under the lease) before use
	// Variables are the env's own variables (an environment.yml's
	// variables:, a conda env's `conda env config vars`), exported after
	// PATH and before its activate.d scripts, as `conda activate` does.
	Variables []Var
	SetEnv    []Var
	// Exit makes a failure end the shell (a job script, senv run) instead
	// of leaving the status in senv_status (an interactive eval).
	Exit bool
}

var nameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Render returns the activation block as POSIX sh.
func (a Activation) Render() (string, error) {
	for _, v := range append(append([]Var(nil), a.Variables...), a.SetEnv...) {
		if !nameRe.MatchString(v.Name) {
			return "", fmt.Errorf("failed to render activation: invalid variable name %q", v.Name)
		}
	}
	return execute("activate.sh.tmpl", a)
}

// InjectMarker starts the block Inject renders; hooks use it to recognise a
// script that activates itself.
const InjectMarker = "# >>> senv: environment setup"

// Inject is the block placed after a script's header: it runs Command (a
// `senv activate` call, as argv) and evaluates what it prints. A failure of
// the command ends the job with the command's exit status.
type Inject struct {
	Version string
	Command []string
}

// Render returns the injected block as POSIX sh.
func (i Inject) Render() (string, error) { return execute("inject.sh.tmpl", i) }

// ModuleCheck is a script that finds, in one shell, which modules cannot
// be loaded: it sets up the module system as the activation does and loads
// the modules in subshells, in groups of ModuleGroup first, then in halves
// of each failing group.
type ModuleCheck struct {
	ModuleInit []string // module system init scripts to try, first readable wins
}

// ModuleGroup is how many modules the module check loads at once. Lmod's
// time to load n modules at once grows with n squared. Measured with Lmod
// 8.6 on the 2-CPU test machine, in a tree of 1,000 modules with no spider
// cache: one module takes 0.40 s, 50 take 0.64 s, 100 1.6 s, 500 14 s and
// 1,000 34 s; `senv check` of 1,000 modules in groups of 50 takes 21 s
// (one shell per module: 143 s).
const ModuleGroup = 50

// Command returns the argv that checks modules: /bin/sh runs the script
// with the modules as its arguments (never as code), and prints "missing
// N" for the Nth module that cannot be loaded (all of them when there is
// no module system).
func (m ModuleCheck) Command(modules ...string) ([]string, error) {
	script, err := execute("modcheck.sh.tmpl", struct {
		ModuleCheck
		Group int
	}{m, ModuleGroup})
	if err != nil {
		return nil, err
	}
	return append([]string{"/bin/sh", "-c", script, "senv"}, modules...), nil
}

func execute(name string, data any) (string, error) {
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("failed to render %s: %w", name, err)
	}
	return b.String(), nil
}

// Script returns header, block and payload joined: the header and payload
// byte for byte, the block on lines of its own.
func Script(header []byte, block string, payload []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(header) + len(block) + len(payload) + 1)
	b.Write(header)
	if len(header) > 0 && header[len(header)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.WriteString(block)
	b.Write(payload)
	return b.Bytes()
}

// Command returns the argv that runs argv under /bin/sh after the
// activation block a, so that a build or a payload sees exactly the
// environment a job will.
func (a Activation) Command(argv ...string) ([]string, error) {
	a.Exit = true
	a.Lease = "" // senv itself holds the lease, on a descriptor the payload inherits
	block, err := a.Render()
	if err != nil {
		return nil, err
	}
	return append([]string{"/bin/sh", "-c", block + "exec \"$@\"\n", "senv"}, argv...), nil
}
