package wrapper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/google/shlex"
	"golang.org/x/sys/unix"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/solver"
	"github.com/senv-hpc/senv/templates"
)

// Execer replaces the current process. Tests fake it; the real one never
// returns on success.
type Execer interface {
	Exec(argv []string, env []string) error
}

// SyscallExec is the real Execer: execve(2) after a PATH lookup.
type SyscallExec struct{}

// Exec replaces the process; it returns only on failure.
func (SyscallExec) Exec(argv []string, env []string) error {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("failed to run %s: %w", argv[0], err)
	}
	err = syscall.Exec(path, argv, env)
	return fmt.Errorf("failed to exec %s: %w", argv[0], err)
}

// leases are kept open for the life of the process and inherited by exec.
var leases []*os.File

// keepLease keeps f open and makes it survive exec, so the payload holds
// the lease until it exits.
func keepLease(f *os.File) {
	_, _ = unix.FcntlInt(f.Fd(), unix.F_SETFD, 0)
	leases = append(leases, f)
}

// Run execs argv inside the prepared environment: /bin/sh runs the
// activation block, then execs argv. It returns only on failure.
func (p *Prepared) Run(e Execer, argv []string) error {
	full, err := p.Activation.Command(argv...)
	if err != nil {
		return err
	}
	return e.Exec(full, os.Environ())
}

// shellInterpreters are the shebang interpreters senv injects sh into.
var shellInterpreters = map[string]bool{"sh": true, "bash": true, "dash": true, "ksh": true, "zsh": true}

// IsShellScript reports whether a shebang names a POSIX-ish shell (a script
// without one is run by /bin/sh, as sbatch would refuse it anyway).
func IsShellScript(shebang string) bool {
	words := strings.Fields(shebang)
	if len(words) == 0 {
		return true
	}
	interp := filepath.Base(words[0])
	if interp == "env" {
		// #!/usr/bin/env [-S] [NAME=VALUE...] INTERP [ARGS]
		for _, w := range words[1:] {
			if !strings.HasPrefix(w, "-") && !strings.Contains(w, "=") {
				interp = filepath.Base(w)
				break
			}
		}
	}
	return shellInterpreters[interp]
}

// maxInlineScript is the largest script RunScript passes inline to
// `sh -c`: Linux caps one argument at 128 KiB.
const maxInlineScript = 120 << 10

// RunScript execs a script inside the prepared environment. A shell script
// runs as `INTERP -c <script with the activation block after its header>
// SCRIPT ARGS...`, so the activation happens in the payload's own shell
// (module functions included) and $0 and the arguments stay the script's.
// Other scripts (Python, ...) and very large ones run after the activation
// in /bin/sh. It returns only on failure.
func (p *Prepared) RunScript(e Execer, s *jobspec.Script, path string, args []string) error {
	argv, err := ScriptArgv(s.Shebang, path, args)
	if err != nil {
		return err
	}
	python := s.Shebang == "" && strings.HasSuffix(path, ".py")
	if python || !IsShellScript(s.Shebang) || len(s.Header)+len(s.Payload) > maxInlineScript {
		return p.Run(e, argv)
	}
	act := p.Activation
	act.Exit = true
	act.Lease = "" // this process holds it, on a descriptor the payload inherits
	block, err := act.Render()
	if err != nil {
		return err
	}
	body := templates.Script(s.Header, block, s.Payload)
	interp := argv[:len(argv)-len(args)-1] // everything before the script path
	full := append(append(append([]string(nil), interp...), "-c", string(body), path), args...)
	return e.Exec(full, os.Environ())
}

// ScriptArgv returns the argv that runs a script the way the kernel would
// run it: its shebang's interpreter (with its argument), else /bin/sh.
func ScriptArgv(shebang, script string, args []string) ([]string, error) {
	argv := []string{"/bin/sh"}
	if shebang == "" && strings.HasSuffix(script, ".py") {
		argv = []string{"python"} // the env's, once activated
	}
	if shebang != "" {
		interp, arg, _ := strings.Cut(shebang, " ")
		argv = []string{interp}
		if arg = strings.TrimSpace(arg); arg != "" {
			words, err := shlex.Split(arg)
			if err != nil {
				return nil, fmt.Errorf("failed to read shebang %q: %w", shebang, err)
			}
			argv = append(argv, words...)
		}
	}
	if runsScriptTool(argv) {
		// `uv run --script` and `pipx run` would solve and build an env of
		// their own from the script's metadata: senv has built it, so the
		// env's python runs the script
		argv = []string{"python"}
	}
	return append(append(argv, script), args...), nil
}

// runsScriptTool reports whether a shebang's command line hands the script
// to uv or pipx (`#!/usr/bin/env -S uv run --script`, `#!/usr/bin/env -S
// pipx run`).
func runsScriptTool(argv []string) bool {
	if filepath.Base(argv[0]) == "env" {
		argv = argv[1:]
		for len(argv) > 0 && (argv[0] == "-S" || argv[0] == "--split-string") {
			argv = argv[1:]
		}
	}
	if len(argv) < 2 {
		return false
	}
	switch filepath.Base(argv[0]) {
	case "uv":
		return argv[1] == "run"
	case "pipx":
		return argv[1] == "run"
	}
	return false
}

// EnvChanges runs the activation block in /bin/sh and returns the variables
// it set or changed (name → value) and those it removed. It is how the env,
// json and task-prolog formats learn what `module load` did.
func (p *Prepared) EnvChanges(ctx context.Context) (map[string]string, []string, error) {
	argv, err := p.Activation.Command("env", "-0")
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("failed to run activation: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	after := map[string]string{}
	for _, kv := range bytes.Split(out, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			after[k] = v
		}
	}
	// Only plain names: a shell drops what it cannot name, such as bash's
	// exported functions (BASH_FUNC_module%%), which must not be unset.
	changed := map[string]string{}
	var removed []string
	for k, v := range after {
		if old, ok := os.LookupEnv(k); (!ok || old != v) && !shellNoise[k] && varNameRe.MatchString(k) {
			changed[k] = v
		}
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := after[k]; !ok && !shellNoise[k] && varNameRe.MatchString(k) {
			removed = append(removed, k)
		}
	}
	sort.Strings(removed)
	return changed, removed, nil
}

var varNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// shellNoise are variables sh itself sets or changes; they are not part of
// the activation.
var shellNoise = map[string]bool{"PWD": true, "OLDPWD": true, "SHLVL": true, "_": true}

// TaskPrologLines renders changes in Slurm's TaskProlog protocol:
// "export NAME=value" (the rest of the line, verbatim) and "unset NAME".
// A value holding a newline cannot be expressed and is skipped, with a
// warning returned for each.
func TaskPrologLines(changed map[string]string, removed []string) (lines, warnings []string) {
	names := make([]string, 0, len(changed))
	for k := range changed {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := changed[k]
		if strings.ContainsAny(k+v, "\n\r\x00") || strings.ContainsAny(k, "=% ") {
			warnings = append(warnings, fmt.Sprintf("variable %s cannot be passed through the TaskProlog (newline in value); skipped", k))
			continue
		}
		lines = append(lines, "export "+k+"="+v)
	}
	for _, k := range removed {
		lines = append(lines, "unset "+k)
	}
	return lines, warnings
}

// JSONChanges renders changes as JSON: {"set": {...}, "unset": [...]}.
func JSONChanges(changed map[string]string, removed []string) ([]byte, error) {
	if removed == nil {
		removed = []string{}
	}
	return json.MarshalIndent(map[string]any{"set": changed, "unset": removed}, "", "  ")
}

// findCondaEnv finds a named conda env with `<tool> env list --json`,
// asking each conda-family tool on PATH in turn (micromamba, mamba, conda:
// each knows the envs of its own root and envs_dirs) until one knows it.
func findCondaEnv(ctx context.Context, name string, cfg *config.Config) (string, error) {
	var asked []string
	for _, bin := range []string{cfg.Micromamba, cfg.Mamba, cfg.Conda} {
		if _, err := exec.LookPath(bin); err != nil {
			continue
		}
		out, err := exec.CommandContext(ctx, bin, "env", "list", "--json").Output()
		if err != nil {
			return "", fmt.Errorf("failed to list conda envs with %s: %w", bin, err)
		}
		var list struct {
			Envs []string `json:"envs"`
		}
		if err := json.Unmarshal(out, &list); err != nil {
			return "", fmt.Errorf("failed to parse %s env list: %w", bin, err)
		}
		for _, e := range list.Envs {
			if filepath.Base(e) == name {
				return e, nil
			}
		}
		asked = append(asked, fmt.Sprintf("%s env list shows %d envs", bin, len(list.Envs)))
	}
	if len(asked) == 0 {
		return "", fmt.Errorf("failed to find conda env %s: no micromamba, mamba or conda on PATH", name)
	}
	return "", &SpecError{fmt.Errorf("#ENV use conda:%s: no such conda env (%s)", name, strings.Join(asked, "; "))}
}

// specVariables returns a spec's variables (environment.yml variables:)
// for the activation.
func specVariables(s *solver.Spec) []templates.Var {
	var vars []templates.Var
	for _, kv := range s.Variables {
		name, value, _ := strings.Cut(kv, "=")
		vars = append(vars, templates.Var{Name: name, Value: value})
	}
	return vars
}

// condaStateVariables reads the variables `conda env config vars set` (and
// an environment.yml's variables: under `conda env create`) recorded in a
// conda env's conda-meta/state, which `conda activate` exports. An env
// without the file has none.
func condaStateVariables(prefix string) ([]templates.Var, error) {
	data, err := os.ReadFile(filepath.Join(prefix, "conda-meta", "state"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read conda env variables: %w", err)
	}
	var state struct {
		EnvVars map[string]string `json:"env_vars"`
	}
	if err := json.Unmarshal(data, &state); err != nil {
		return nil, fmt.Errorf("failed to read conda env variables from %s: %w", filepath.Join(prefix, "conda-meta", "state"), err)
	}
	names := make([]string, 0, len(state.EnvVars))
	for k := range state.EnvVars {
		if varNameRe.MatchString(k) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	vars := make([]templates.Var, len(names))
	for i, k := range names {
		vars[i] = templates.Var{Name: k, Value: state.EnvVars[k]}
	}
	return vars, nil
}
