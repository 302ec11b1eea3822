package interactive

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// KernelSpec is a Jupyter kernelspec (kernel.json) as senv writes it.
type KernelSpec struct {
	Argv          []string          `json:"argv"`
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	InterruptMode string            `json:"interrupt_mode,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
	Metadata      KernelMetadata    `json:"metadata"`
}

// KernelMetadata is the kernelspec's metadata; senv's part marks a kernel
// as senv's (kernel ls and rm touch no other).
type KernelMetadata struct {
	Senv *SenvKernel `json:"senv,omitempty"`
}

// SenvKernel is what senv records about the env a kernel runs in.
type SenvKernel struct {
	EnvID   string `json:"env_id,omitempty"`
	Label   string `json:"label"`
	Lock    string `json:"lock,omitempty"` // file name of the lock, beside kernel.json
	Version string `json:"senv_version"`
}

// LockFile is the name of the lock senv writes beside kernel.json.
const LockFile = "senv.lock"

// KernelLauncher is what the kernel's argv needs to start the kernel
// through senv with nothing from the environment it starts in.
type KernelLauncher struct {
	Senv     string   // absolute path of the senv binary
	CacheDir string   // as resolved at install time
	StageDir string   // as resolved at install time
	Dir      string   // directory the spec's relative paths start at
	Lock     string   // the lock beside kernel.json; "" for envs without one
	EnvID    string   // the env built at install time; "" for none
	Flags    []string // the #ENV flags that make the spec
}

// Argv is the kernel's argv: `senv kernel start` with the spec, lock and
// env pinned, then the ipykernel launcher with Jupyter's {connection_file}.
func (l KernelLauncher) Argv() []string {
	argv := []string{l.Senv, "--cache-dir", l.CacheDir, "--stage-dir", l.StageDir, "kernel", "start", "--dir", l.Dir}
	if l.Lock != "" {
		argv = append(argv, "--lock-file", l.Lock)
	}
	if l.EnvID != "" {
		argv = append(argv, "--env-id", l.EnvID)
	}
	argv = append(argv, l.Flags...)
	return append(argv, "--", "python", "-m", "ipykernel_launcher", "-f", "{connection_file}")
}

// kernelNameRe is Jupyter's rule for kernel names (the directory's name),
// lower case as Jupyter lists them.
var kernelNameRe = regexp.MustCompile(`^[a-z0-9._-]+$`)

// KernelName returns the kernelspec name for a label: lower case, with
// what Jupyter refuses replaced by "-". An explicit name must already be
// valid.
func KernelName(explicit, label string) (string, error) {
	if explicit != "" {
		if !kernelNameRe.MatchString(explicit) {
			return "", fmt.Errorf("kernel name %q: use lower-case letters, digits, '.', '_' and '-' only", explicit)
		}
		return explicit, nil
	}
	name := strings.Trim(regexp.MustCompile(`[^a-z0-9._-]+`).ReplaceAllString(strings.ToLower(label), "-"), "-.")
	if name == "" {
		name = "env"
	}
	return "senv-" + name, nil
}

// KernelsDir is where kernelspecs go: PREFIX/share/jupyter/kernels with a
// prefix, else the user's Jupyter data dir ($JUPYTER_DATA_DIR, else
// $XDG_DATA_HOME/jupyter, else ~/.local/share/jupyter) /kernels, as
// jupyter_core finds them on Linux.
func KernelsDir(getenv func(string) string, prefix string) (string, error) {
	if prefix != "" {
		abs, err := filepath.Abs(prefix)
		if err != nil {
			return "", fmt.Errorf("failed to resolve prefix %s: %w", prefix, err)
		}
		return filepath.Join(abs, "share", "jupyter", "kernels"), nil
	}
	if d := getenv("JUPYTER_DATA_DIR"); d != "" {
		return filepath.Join(d, "kernels"), nil
	}
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "jupyter", "kernels"), nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", errors.New("failed to find the Jupyter data dir: HOME is not set (pass --prefix)")
	}
	return filepath.Join(home, ".local", "share", "jupyter", "kernels"), nil
}

// Kernel is an installed kernelspec.
type Kernel struct {
	Name string
	Dir  string
	Spec KernelSpec
}

// ReadKernel reads the kernelspec in dir.
func ReadKernel(dir string) (*Kernel, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		return nil, fmt.Errorf("failed to read kernelspec: %w", err)
	}
	k := &Kernel{Name: filepath.Base(dir), Dir: dir}
	if err := json.Unmarshal(data, &k.Spec); err != nil {
		return nil, fmt.Errorf("failed to parse kernelspec %s: %w", filepath.Join(dir, "kernel.json"), err)
	}
	return k, nil
}

// InstallKernel writes spec (and lock, if any, as LockFile) as kernel name
// in kernels, replacing a kernel of that name that senv installed and
// refusing one it did not. The new kernel appears at once, whole: it is
// written beside and renamed into place. It returns the kernel's dir.
func InstallKernel(kernels, name string, spec KernelSpec, lock []byte) (string, error) {
	if err := os.MkdirAll(kernels, 0o755); err != nil {
		return "", fmt.Errorf("failed to create kernels dir: %w", err)
	}
	dst := filepath.Join(kernels, name)
	if old, err := ReadKernel(dst); err == nil && old.Spec.Metadata.Senv == nil {
		return "", fmt.Errorf("failed to install kernel %s: %s holds a kernel that senv did not install", name, dst)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("failed to install kernel %s: %w", name, err)
	}
	tmp, err := os.MkdirTemp(kernels, "."+name+"-")
	if err != nil {
		return "", fmt.Errorf("failed to create kernel dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("failed to create kernel dir: %w", err)
	}
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return "", fmt.Errorf("failed to encode kernelspec: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "kernel.json"), append(data, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("failed to write kernelspec: %w", err)
	}
	if lock != nil {
		if err := os.WriteFile(filepath.Join(tmp, LockFile), lock, 0o644); err != nil {
			return "", fmt.Errorf("failed to write kernel lock: %w", err)
		}
	}
	if err := os.RemoveAll(dst); err != nil {
		return "", fmt.Errorf("failed to replace kernel %s: %w", name, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", fmt.Errorf("failed to install kernel %s: %w", name, err)
	}
	return dst, nil
}

// ListKernels returns the kernels senv installed in kernels, by name. A
// missing dir has none.
func ListKernels(kernels string) ([]Kernel, error) {
	entries, err := os.ReadDir(kernels)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to list kernels: %w", err)
	}
	var out []Kernel
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		k, err := ReadKernel(filepath.Join(kernels, e.Name()))
		if err != nil || k.Spec.Metadata.Senv == nil {
			continue // not senv's: leave it to `jupyter kernelspec list`
		}
		out = append(out, *k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RemoveKernel removes kernel name from kernels if senv installed it.
func RemoveKernel(kernels, name string) error {
	if !kernelNameRe.MatchString(name) {
		return fmt.Errorf("failed to remove kernel %q: not a kernel name", name)
	}
	k, err := ReadKernel(filepath.Join(kernels, name))
	if err != nil {
		return fmt.Errorf("failed to remove kernel %s: %w", name, err)
	}
	if k.Spec.Metadata.Senv == nil {
		return fmt.Errorf("failed to remove kernel %s: senv did not install it (use jupyter kernelspec remove)", name)
	}
	if err := os.RemoveAll(k.Dir); err != nil {
		return fmt.Errorf("failed to remove kernel %s: %w", name, err)
	}
	return nil
}

// reqNameRe is the distribution name at the start of a requirement.
var reqNameRe = regexp.MustCompile(`^\s*([A-Za-z0-9][A-Za-z0-9._-]*)`)

// NamesPackage reports whether one of reqs (PEP 508 requirements or conda
// match specs) is for the package name, by its normalized name.
func NamesPackage(reqs []string, name string) bool {
	for _, r := range reqs {
		if m := reqNameRe.FindStringSubmatch(r); m != nil && Normalize(m[1]) == Normalize(name) {
			return true
		}
	}
	return false
}

// Normalize is PEP 503's name normalization.
func Normalize(name string) string {
	return strings.ToLower(regexp.MustCompile(`[-_.]+`).ReplaceAllString(name, "-"))
}
