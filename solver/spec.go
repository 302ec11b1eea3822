package solver

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"gopkg.in/yaml.v3"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
)

// Spec is the canonical form of what a job asks for: relative paths replaced
// by file contents, package lists normalised and sorted, the manager and the
// modules resolved against the site config. Its hash is the spec key.
type Spec struct {
	Manager        string   `json:"manager"`
	Python         string   `json:"python,omitempty"`
	Modules        []string `json:"modules,omitempty"`
	Pip            []string `json:"pip,omitempty"`
	Conda          []string `json:"conda,omitempty"`
	Channels       []string `json:"channels,omitempty"`
	Solver         string   `json:"solver,omitempty"`
	IndexURL       string   `json:"index_url,omitempty"`
	ExtraIndexURLs []string `json:"extra_index_urls,omitempty"`
	FindLinks      []string `json:"find_links,omitempty"`
	NoIndex        bool     `json:"no_index,omitempty"`
	Use            string   `json:"use,omitempty"`
	Platform       string   `json:"platform"`
	// Interpreter is the base interpreter to look for: a command name or
	// path, found with Modules loaded.
	Interpreter string `json:"interpreter,omitempty"`
	// InterpreterPath is where Interpreter resolves on PATH (symlinks
	// followed) when no module decides it, so that another python on PATH
	// is another spec. With modules, the module list stands for it.
	InterpreterPath string `json:"interpreter_path,omitempty"`
}

// Key returns the spec key: a short hash of the canonical spec.
func (s *Spec) Key() string {
	b, _ := json.Marshal(s)
	return shortHash(b)
}

// NeedsBuild reports whether the spec asks for an environment senv builds,
// as opposed to modules only or an existing env.
func (s *Spec) NeedsBuild() bool { return s.Use == "" && s.Manager != "" }

func shortHash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// Canonicalize turns a parsed Env into a Spec. dir is the directory that
// relative paths in env are relative to. It reads every referenced file; a
// missing or malformed file is a *jobspec.Error naming the directive.
func Canonicalize(env *jobspec.Env, dir string, cfg *config.Config) (*Spec, error) {
	s := &Spec{
		Python:         env.Python,
		Modules:        append([]string(nil), env.Modules...),
		Channels:       append([]string(nil), env.Channels...),
		Solver:         env.Solver,
		IndexURL:       firstNonEmpty(env.IndexURL, cfg.IndexURL),
		ExtraIndexURLs: append(append([]string(nil), cfg.ExtraIndexURL...), env.ExtraIndexURLs...),
		NoIndex:        env.NoIndex || cfg.NoIndex,
		Use:            env.Use,
	}
	for _, fl := range append(append([]string(nil), cfg.FindLinks...), env.FindLinks...) {
		s.FindLinks = append(s.FindLinks, absSource(dir, fl))
	}
	for _, r := range env.Pip {
		s.Pip = append(s.Pip, NormalizeRequirement(r))
	}
	for _, f := range env.Requirements {
		if err := s.addRequirementsFile(resolve(dir, f), "requirements", map[string]bool{}); err != nil {
			return nil, err
		}
	}
	if env.File != "" {
		if err := s.addEnvFile(resolve(dir, env.File)); err != nil {
			return nil, err
		}
	}
	s.Conda = append(s.Conda, env.Conda...)
	sort.Strings(s.Pip)
	s.Pip = dedupe(s.Pip)
	sort.Strings(s.Conda)
	s.Conda = dedupe(s.Conda)
	s.Channels = dedupe(s.Channels)

	s.Manager = pickManager(env.Manager, s, cfg)
	if s.Use != "" {
		s.Manager = ""
	}
	if IsConda(s.Manager) && len(s.Pip) > 0 {
		return nil, &jobspec.Error{Pos: jobspec.Pos{File: dir}, Key: "pip",
			Msg:  fmt.Sprintf("pip packages in a %s environment are not supported yet (%s)", s.Manager, strings.Join(s.Pip, " ")),
			Hint: "ask for them as conda packages, or drop the conda packages and use `#ENV manager uv`"}
	}
	if s.Manager == "conda" && s.Solver == "" {
		s.Solver = "libmamba" // only conda has a choice; mamba's is fixed
	}
	if s.Python != "" && cfg.PythonModule != "" && !IsConda(s.Manager) {
		s.Modules = append([]string{strings.ReplaceAll(cfg.PythonModule, "{version}", s.Python)}, s.Modules...)
	}
	switch {
	case s.Manager == "" || IsConda(s.Manager):
	case s.Python != "":
		s.Interpreter = "python" + s.Python
	default:
		s.Interpreter = cfg.Python
	}
	if !env.NeedsEnv() && env.Manager == "" {
		// modules and variables only: nothing to build
		s.Manager, s.Interpreter = "", ""
	}
	if s.Interpreter != "" && len(s.Modules) == 0 {
		s.InterpreterPath = resolveCommand(s.Interpreter)
	}
	s.Platform = Platform()
	return s, nil
}

// resolveCommand finds a command on PATH and follows its symlinks: a few
// stat calls, cheap enough for every job start. "" if it is not found.
func resolveCommand(name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		return real
	}
	return p
}

// IsConda reports whether manager is one of the conda family.
func IsConda(manager string) bool {
	return manager == "conda" || manager == "mamba" || manager == "micromamba"
}

// pickManager applies SPEC §2: explicit manager, else site default, else
// conda-family for conda specs, else uv when found, else venv.
func pickManager(explicit string, s *Spec, cfg *config.Config) string {
	if explicit != "" {
		return explicit
	}
	if cfg.DefaultManager != "" {
		return cfg.DefaultManager
	}
	if len(s.Conda) > 0 {
		for _, m := range []struct{ name, bin string }{{"micromamba", cfg.Micromamba}, {"mamba", cfg.Mamba}, {"conda", cfg.Conda}} {
			if _, err := exec.LookPath(m.bin); err == nil {
				return m.name
			}
		}
		return "conda"
	}
	if _, err := exec.LookPath(cfg.UV); err == nil {
		return "uv"
	}
	return "venv"
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	seen := map[string]bool{}
	for _, v := range sorted {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// absSource makes a relative find-links path absolute; URLs stay as they are.
func absSource(dir, v string) string {
	if strings.Contains(v, "://") {
		return v
	}
	return resolve(dir, v)
}

var (
	reqNameRe = regexp.MustCompile(`^\s*([A-Za-z0-9][A-Za-z0-9._-]*)`)
	nameSepRe = regexp.MustCompile(`[-_.]+`)
)

// NormalizeRequirement lower-cases a PEP 508 requirement's name, folds runs
// of "-_." to "-" as PEP 503 does, and removes white space outside markers,
// so that "NumPy >= 1.26" and "numpy>=1.26" are the same requirement.
func NormalizeRequirement(r string) string {
	req, marker, hasMarker := strings.Cut(r, ";")
	m := reqNameRe.FindStringSubmatchIndex(req)
	if m == nil {
		return strings.TrimSpace(r)
	}
	name := strings.ToLower(req[m[2]:m[3]])
	name = nameSepRe.ReplaceAllString(name, "-")
	rest := strings.Join(strings.Fields(req[m[3]:]), "")
	out := name + rest
	if hasMarker {
		out += "; " + strings.Join(strings.Fields(marker), " ")
	}
	return out
}

// addRequirementsFile reads a pip requirements file: requirements go to Pip,
// source options to the source fields, -r files are followed.
func (s *Spec) addRequirementsFile(path, key string, seen map[string]bool) error {
	if seen[path] {
		return nil
	}
	seen[path] = true
	data, err := os.ReadFile(path)
	if err != nil {
		return fileError(key, path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bad := func(msg, hint string) error {
			return &jobspec.Error{Pos: jobspec.Pos{File: path, Line: n}, Key: key, Msg: msg, Hint: hint}
		}
		opt, val, _ := strings.Cut(strings.Replace(line, "=", " ", 1), " ")
		val = strings.TrimSpace(val)
		switch opt {
		case "-r", "--requirement":
			nested := resolve(filepath.Dir(path), val)
			if _, err := os.Stat(nested); err != nil {
				return bad(fmt.Sprintf("-r %s: %v", val, unwrapPathError(err)), "-r paths are relative to the requirements file that names them")
			}
			if err := s.addRequirementsFile(nested, key, seen); err != nil {
				return err
			}
		case "-i", "--index-url":
			s.IndexURL = val
		case "--extra-index-url":
			s.ExtraIndexURLs = append(s.ExtraIndexURLs, val)
		case "-f", "--find-links":
			s.FindLinks = append(s.FindLinks, absSource(filepath.Dir(path), val))
		case "--no-index":
			s.NoIndex = true
		default:
			if strings.HasPrefix(line, "-") {
				return bad(fmt.Sprintf("unsupported option %q in a requirements file", opt),
					"senv supports requirements and -r, -i, --extra-index-url, -f, --no-index; build a wheel instead of -e")
			}
			s.Pip = append(s.Pip, NormalizeRequirement(line))
		}
	}
	return nil
}

func fileError(key, path string, err error) error {
	hint := "paths are relative to the script's directory"
	return &jobspec.Error{Pos: jobspec.Pos{File: path}, Key: key, Msg: fmt.Sprintf("cannot read file: %v", unwrapPathError(err)), Hint: hint}
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// addEnvFile reads the file key: environment.yml, requirements.txt or
// pyproject.toml.
func (s *Spec) addEnvFile(path string) error {
	switch jobspec.FileKind(path) {
	case "requirements":
		return s.addRequirementsFile(path, "file", map[string]bool{})
	case "pyproject":
		var pp struct {
			Project struct {
				Dependencies   []string `toml:"dependencies"`
				RequiresPython string   `toml:"requires-python"`
			} `toml:"project"`
		}
		if _, err := toml.DecodeFile(path, &pp); err != nil {
			if os.IsNotExist(err) {
				return fileError("file", path, err)
			}
			return &jobspec.Error{Pos: jobspec.Pos{File: path}, Key: "file", Msg: "not valid TOML: " + err.Error()}
		}
		for _, d := range pp.Project.Dependencies {
			s.Pip = append(s.Pip, NormalizeRequirement(d))
		}
	case "conda":
		data, err := os.ReadFile(path)
		if err != nil {
			return fileError("file", path, err)
		}
		var ef struct {
			Channels     []string    `yaml:"channels"`
			Dependencies []yaml.Node `yaml:"dependencies"`
		}
		if err := yaml.Unmarshal(data, &ef); err != nil {
			return &jobspec.Error{Pos: jobspec.Pos{File: path}, Key: "file", Msg: "not valid YAML: " + err.Error()}
		}
		s.Channels = append(s.Channels, ef.Channels...)
		for _, d := range ef.Dependencies {
			switch d.Kind {
			case yaml.ScalarNode:
				s.Conda = append(s.Conda, strings.Join(strings.Fields(d.Value), ""))
			case yaml.MappingNode:
				var m map[string][]string
				if err := d.Decode(&m); err != nil {
					return &jobspec.Error{Pos: jobspec.Pos{File: path, Line: d.Line}, Key: "file", Msg: "dependencies: " + err.Error()}
				}
				for _, r := range m["pip"] {
					s.Pip = append(s.Pip, NormalizeRequirement(r))
				}
			}
		}
	}
	return nil
}
