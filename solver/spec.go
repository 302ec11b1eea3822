package solver

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

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
	SystemSite     bool     `json:"system_site_packages,omitempty"`
	Use            string   `json:"use,omitempty"`
	// Variables are NAME=VALUE pairs, sorted, from an environment.yml's
	// variables: (exported on activation, before the env's activate.d).
	Variables []string `json:"variables,omitempty"`
	// Explicit is an @EXPLICIT list from a lock file the user has
	// (`#ENV file` conda-lock.yml, pixi.lock, an explicit list): installed
	// as it is, without a solve. Locked are that file's Python packages.
	Explicit string    `json:"explicit,omitempty"`
	Locked   []Package `json:"locked,omitempty"`
	Platform string    `json:"platform"`
	// Interpreter is the base interpreter to look for: a command name or
	// path, found with Modules loaded.
	Interpreter string `json:"interpreter,omitempty"`
	// InterpreterPath is where Interpreter resolves on PATH (symlinks
	// followed) when no module decides it, so that another python on PATH
	// is another spec. With modules, the module list stands for it.
	InterpreterPath string `json:"interpreter_path,omitempty"`
	// RequirementFiles are the requirements files the resolver is given
	// (absolute paths, in the order named); Files holds "SHA256  PATH" for
	// every file they reach through -r and -c, and "tree HASH  PATH" for
	// every local source tree they build, so that an edit is another spec.
	RequirementFiles []string `json:"requirement_files,omitempty"`
	Files            []string `json:"files,omitempty"`
	// Project is a pyproject.toml whose dependencies the env holds;
	// PylockFile a PEP 751 lock installed as it is.
	Project    *Project `json:"project,omitempty"`
	PylockFile string   `json:"pylock_file,omitempty"`

	// WorkDir is where the resolver runs (the script's directory): relative
	// paths in requirements files start there, as they do for pip.
	WorkDir string `json:"-"`
	// Requested is what the user asked for at top level; the lock must
	// hold each (CheckLocked).
	Requested []Requested `json:"-"`
	// filePre and fileTrustedHosts are --pre and --trusted-host lines of
	// the requirements files: uv ignores them there, so they go on its
	// command line.
	filePre          bool
	fileTrustedHosts []string
	// uvIgnores are requirements file options uv ignores and senv cannot
	// pass on for it (--prefer-binary, --use-feature), where they stand.
	uvIgnores []Requested
	// pythonFromModule: a site python module (python_module) was chosen
	// for a version range.
	pythonFromModule bool
	// candidates are the interpreters a version range allows, newest
	// first: the solve takes the first that runs (a pyenv shim of a
	// version not active fails).
	candidates []string
	// Warnings are problems in the spec's files that do not stop it (an
	// environment.yml's name:, an unknown key); not part of the key.
	Warnings []jobspec.Warning `json:"-"`
	// pipSectionDir is where an environment.yml's pip section is written
	// for the resolver (PipSectionDir).
	pipSectionDir string
}

// Key returns the spec key: a short hash of the canonical spec.
//
// A pip section of an environment.yml is named by its contents but written
// under the user's own stage dir (PipSectionDir); that directory is no part
// of the key, so that users with different stage dirs, and the admins who
// publish a site cache, agree on the key of the same spec.
func (s *Spec) Key() string {
	b, _ := json.Marshal(s)
	if s.pipSectionDir != "" {
		dir, _ := json.Marshal(s.pipSectionDir + "/")
		b = bytes.ReplaceAll(b, bytes.Trim(dir, `"`), []byte("pip-section:"))
	}
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
		SystemSite:     env.SystemSite,
		Use:            env.Use,
	}
	for _, fl := range append(append([]string(nil), cfg.FindLinks...), env.FindLinks...) {
		s.FindLinks = append(s.FindLinks, absSource(dir, fl))
	}
	s.WorkDir = dir
	s.pipSectionDir = PipSectionDir(cfg.StageDir)
	for _, r := range env.Pip {
		s.addPip(r, jobspec.Pos{})
	}
	for _, f := range env.Requirements {
		if err := s.addRequirementsFile(resolve(dir, f), "requirements"); err != nil {
			return nil, err
		}
	}
	s.Manager = env.Manager // known before the files are read (pyproject checks it)
	if env.File != "" {
		if err := s.addEnvFile(resolve(dir, env.File), env); err != nil {
			return nil, err
		}
	}
	if len(env.Extras)+len(env.Groups) > 0 && s.Project == nil {
		return nil, &jobspec.Error{Pos: jobspec.Pos{File: dir}, Key: "extra", Msg: "extras and dependency groups belong to a pyproject.toml",
			Hint: "add `#ENV file pyproject.toml`"}
	}
	s.Conda = append(s.Conda, env.Conda...)
	if err := s.checkCondaLockAlone(dir); err != nil {
		return nil, err
	}
	sort.Strings(s.Pip)
	s.Pip = dedupe(s.Pip)
	sort.Strings(s.Conda)
	s.Conda = dedupe(s.Conda)
	s.Channels = dedupe(s.Channels)

	s.Manager = pickManager(env.Manager, s, cfg)
	if s.Use != "" {
		s.Manager = ""
	}
	if s.Solver != "" && s.Manager != "conda" && s.Manager != "" {
		return nil, &jobspec.Error{Pos: jobspec.Pos{File: dir}, Key: "solver",
			Msg:  fmt.Sprintf("%s has no choice of solver (only conda has: libmamba or classic)", s.Manager),
			Hint: "drop `#ENV solver`, or use `#ENV manager conda`"}
	}
	if err := s.checkManagerReads(dir); err != nil {
		return nil, err
	}
	if s.Manager == "conda" && s.Solver == "" {
		s.Solver = "libmamba" // only conda has a choice; mamba's is fixed
	}
	pySpec, err := jobspec.ParsePythonSpec(s.Python)
	if s.Python != "" && err != nil {
		return nil, &jobspec.Error{Pos: jobspec.Pos{File: dir}, Key: "python", Msg: err.Error()}
	}
	if s.Python != "" && cfg.PythonModule != "" && !IsConda(s.Manager) {
		mod := strings.ReplaceAll(cfg.PythonModule, "{version}", s.Python)
		if !pySpec.Bare() {
			mod = pickPythonModule(pySpec, cfg)
		}
		if mod != "" {
			s.Modules = append([]string{mod}, s.Modules...)
			s.pythonFromModule = true
		}
	}
	switch {
	case s.Manager == "" || IsConda(s.Manager):
	case s.Python != "" && pySpec.Bare():
		s.Interpreter = "python" + s.Python
	case s.pythonFromModule:
		s.Interpreter = "python3" // the module's; the solve checks its version against the range
	case s.Python != "":
		if s.candidates, err = pickInterpreter(pySpec, s.Manager); err != nil {
			return nil, err
		}
		if len(s.candidates) > 0 {
			s.Interpreter = s.candidates[0]
		}
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

// checkManagerReads refuses, before any tool runs, what the chosen
// manager's tool would not read as the user meant it: options uv ignores in
// a requirements file, dependency groups with pip, a whole-env lock file
// beside other requirements.
func (s *Spec) checkManagerReads(dir string) error {
	if s.Manager == "uv" && len(s.uvIgnores) > 0 {
		o := s.uvIgnores[0]
		return &jobspec.Error{Pos: o.Pos, Key: "requirements", Msg: fmt.Sprintf("uv ignores %s in a requirements file, so the env would differ from what pip makes of it", o.Text),
			Hint: "remove the option, or let pip read the file: `#ENV manager venv`"}
	}
	if s.Manager == "venv" && s.Project != nil && len(s.Project.Groups) > 0 && !s.Project.UVLock {
		return &jobspec.Error{Pos: jobspec.Pos{File: s.Project.Path}, Key: "group", Msg: "dependency groups need uv (pip before 25.1 cannot install them)",
			Hint: "use `#ENV manager uv` (the default when uv is installed)"}
	}
	whole := s.PylockFile
	if whole == "" && s.Project != nil && s.Project.UVLock {
		whole = filepath.Join(filepath.Dir(s.Project.Path), "uv.lock")
	}
	if whole != "" && (len(s.Pip) > 0 || len(s.RequirementFiles) > 0) {
		return &jobspec.Error{Pos: jobspec.Pos{File: dir}, Key: "file", Msg: fmt.Sprintf("%s is the whole environment: #ENV pip and requirements cannot add to it", whole),
			Hint: "add the packages with the lock's own tool (`uv add`, `pip lock`), or drop the lock file"}
	}
	return nil
}

// pickInterpreter lists the interpreters for a version range: each
// python3.N on PATH whose family the range allows, newest first. It reads
// directory listings only (no exec: it runs at every job start); the solve
// takes the first that runs and checks its full version. With none on
// PATH, a uv spec leaves the choice to `uv python find` at solve time;
// otherwise the error lists what was found.
func pickInterpreter(spec jobspec.PythonSpec, manager string) ([]string, error) {
	found := map[int]string{} // minor version -> the first python3.N on PATH
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			m := pythonNameRe.FindStringSubmatch(e.Name())
			if m == nil {
				continue
			}
			minor, _ := strconv.Atoi(m[1])
			if _, seen := found[minor]; !seen && isExecutable(filepath.Join(dir, e.Name())) {
				found[minor] = filepath.Join(dir, e.Name())
			}
		}
	}
	var minors []int
	for minor := range found {
		if spec.Allows(fmt.Sprintf("3.%d", minor)) {
			minors = append(minors, minor)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(minors)))
	var names []string
	for _, m := range minors {
		names = append(names, fmt.Sprintf("python3.%d", m))
	}
	if len(names) > 0 || manager == "uv" {
		return names, nil // none: Interpreter asks `uv python find`
	}
	var have []string
	for _, p := range found {
		have = append(have, p)
	}
	sort.Strings(have)
	msg := fmt.Sprintf("no python on PATH satisfies %q", spec.Text)
	if len(have) > 0 {
		msg += " (found " + strings.Join(have, ", ") + ")"
	}
	return nil, &jobspec.Error{Key: "python", Msg: msg,
		Hint: "load a python module first (`#ENV module python/3.12`), install one, or use `#ENV manager uv` to take a uv-managed python"}
}

var pythonNameRe = regexp.MustCompile(`^python3\.([0-9]+)$`)

func isExecutable(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0
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
	if len(s.Conda) > 0 || s.Explicit != "" {
		if m := moduleCondaManager(s.Modules, cfg); m != "" {
			return m
		}
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

// addPip adds one PEP 508 requirement that the user asked for by name (an
// #ENV pip value, a PEP 723 or pyproject dependency).
func (s *Spec) addPip(r string, pos jobspec.Pos) {
	n := NormalizeRequirement(r)
	s.Pip = append(s.Pip, n)
	if req, err := jobspec.ParseRequirement(n); err == nil {
		s.Requested = append(s.Requested, Requested{ID: normName(req.Name), Text: r, Pos: pos, Conditional: req.Marker != ""})
	}
}

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
