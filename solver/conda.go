package solver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
)

// DefaultCondaChannel is the channel a conda-family spec is solved against
// when it names none.
const DefaultCondaChannel = "conda-forge"

// moduleCondaManager returns the conda-family manager that the spec's
// modules put on PATH (`#ENV module miniconda/3` with `#ENV conda ...`: the
// module's conda, not a micromamba that happens to be on PATH), or "" when
// there are no modules or they bring none. It loads the modules in a shell,
// once per spec without an explicit manager.
func moduleCondaManager(modules []string, cfg *config.Config) string {
	if len(modules) == 0 {
		return ""
	}
	names := []string{"micromamba", "mamba", "conda"}
	bins := []string{cfg.Micromamba, cfg.Mamba, cfg.Conda}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := Runner{ModuleInit: cfg.ModuleInit, Modules: modules}
	out, err := r.Output(ctx, append([]string{"/bin/sh", "-c", `for b; do command -v "$b" || echo; done`, "sh"}, bins...)...)
	if err != nil {
		return ""
	}
	found := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(found) != len(bins) {
		return ""
	}
	for i, p := range found {
		if p == "" {
			continue
		}
		if before, err := exec.LookPath(bins[i]); err != nil || before != p {
			return names[i]
		}
	}
	return ""
}

// CondaBinary returns the configured binary of a conda-family manager.
func CondaBinary(manager string, cfg *config.Config) string {
	switch manager {
	case "mamba":
		return cfg.Mamba
	case "micromamba":
		return cfg.Micromamba
	}
	return cfg.Conda
}

// solveConda locks a conda-family spec: one `create --dry-run --json`,
// turned into an @EXPLICIT list that installs the same packages without a
// solve. tmp is a scratch directory the caller removes.
func solveConda(ctx context.Context, l *Lock, s *Spec, r Runner, cfg *config.Config, tmp string) error {
	bin := CondaBinary(s.Manager, cfg)
	ver, err := r.Output(ctx, bin, "--version")
	if err != nil {
		return fmt.Errorf("failed to run %s (install it, or set its path as %q in the senv config or SENV_%s): %w",
			bin, s.Manager, strings.ToUpper(s.Manager), err)
	}
	l.Tool = condaTool(s.Manager, ver)
	if len(l.Channels) == 0 {
		l.Channels = condaChannels(s)
	}
	r = r.WithCondaPkgsDir(CondaPkgsDir(cfg.StageDir, tmp))
	if s.Explicit != "" {
		return lockFromFile(ctx, l, s, r, cfg)
	}
	argv := CondaSolveArgs(bin, s, filepath.Join(tmp, "prefix"))
	pkgs, err := condaDryRun(ctx, r, s.Manager, argv)
	if err != nil {
		return err
	}
	if !condaComplete(pkgs) {
		// conda and mamba 1 list a package they link from their package
		// cache without url and md5; its cached repodata_record.json has both.
		if out, err := r.Output(ctx, bin, "info", "--json"); err == nil {
			if dirs, err := ParseCondaPkgsDirs(out); err == nil {
				FillFromPackageCache(pkgs, dirs)
			}
		}
	}
	if !condaComplete(pkgs) {
		// Last resort: solve again against an empty package cache, so that
		// every package is one to fetch, with its full record.
		if pkgs, err = condaDryRun(ctx, r.WithCondaPkgsDir(filepath.Join(tmp, "pkgs-empty")), s.Manager, argv); err != nil {
			return err
		}
	}
	if l.Explicit, err = ExplicitList(pkgs); err != nil {
		return fmt.Errorf("failed to lock the %s solve (neither the dry run, nor the package cache, nor a solve against an empty cache gave every package's URL and MD5): %w", s.Manager, err)
	}
	if hasPythonPart(s) {
		return solveCondaPip(ctx, l, s, r, cfg, tmp)
	}
	return nil
}

// hasPythonPart reports whether a conda-family spec has Python packages
// to install after the conda ones: #ENV pip, requirements files (an
// environment.yml's pip section is one), a pyproject.toml.
func hasPythonPart(s *Spec) bool {
	return len(s.Pip) > 0 || len(s.RequirementFiles) > 0 || s.Project != nil || s.PylockFile != ""
}

// solveCondaPip locks the pip part of a conda-family spec: the conda part
// is created from its explicit list in a scratch prefix, and its python is
// the interpreter SolvePython resolves for (with uv where uv is found, else
// with the env's own pip). The lock records both tools.
func solveCondaPip(ctx context.Context, l *Lock, s *Spec, r Runner, cfg *config.Config, tmp string) error {
	prefix := filepath.Join(tmp, "pip-base")
	file := filepath.Join(tmp, "explicit.txt")
	if err := os.WriteFile(file, []byte(l.Explicit), 0o600); err != nil {
		return fmt.Errorf("failed to write explicit package list: %w", err)
	}
	if _, err := r.Output(ctx, CondaCreateArgs(CondaBinary(s.Manager, cfg), prefix, file)...); err != nil {
		return fmt.Errorf("failed to create the conda part of the env to solve its pip packages: %w", err)
	}
	l.Python = filepath.Join(prefix, "bin", "python")
	out, err := r.Output(ctx, PythonCode(l.Python, "import platform; print(platform.python_version())")...)
	if err != nil {
		return fmt.Errorf("failed to run the env's python for its pip packages (add python to the conda packages): %w", err)
	}
	l.PythonVersion = strings.TrimSpace(string(out))
	py := *s
	py.Manager = "uv"
	if _, err := exec.LookPath(cfg.UV); err != nil {
		py.Manager = "venv" // the env's own pip: it must be one of the conda packages
	}
	// SolvePython names the Python tool in l.Tool, and picks it by the
	// manager: uv, or (venv) the env's pip.
	condaTool, manager := l.Tool, l.Manager
	l.Tool, l.Manager = "", py.Manager
	err = SolvePython(ctx, l, &py, r, cfg, tmp)
	l.Manager = manager
	if err != nil {
		return err
	}
	l.Tool = condaTool + " + " + l.Tool
	l.Python = "" // the scratch prefix is gone after the solve: the build uses its own env's python
	return nil
}

// lockFromFile locks a spec read from a lock file the user has: its
// explicit list and Python packages as they are, no solve. The pip part is
// installed with uv where uv is found, else with the env's pip.
func lockFromFile(ctx context.Context, l *Lock, s *Spec, r Runner, cfg *config.Config) error {
	l.Explicit = s.Explicit
	if len(s.Locked) == 0 {
		return nil
	}
	l.Packages = append([]Package(nil), s.Locked...)
	tool := "pip"
	if ver, err := r.Output(ctx, cfg.UV, "--version"); err == nil && len(strings.Fields(string(ver))) >= 2 {
		tool = strings.Join(strings.Fields(string(ver))[:2], " ")
	}
	l.Tool += " + " + tool
	return nil
}

// CondaLockUsesUV reports whether a conda-family lock's pip part was solved
// with uv and so is installed with uv.
func CondaLockUsesUV(l *Lock) bool {
	return strings.Contains(l.Tool, " + uv ")
}

// CondaCreateArgs returns the command that installs an explicit file into a
// new prefix. conda, mamba and micromamba take the same flags, and all three
// recognise the file as explicit by its @EXPLICIT line.
func CondaCreateArgs(bin, prefix, file string) []string {
	return []string{bin, "create", "--yes", "--quiet", "--prefix", prefix, "--file", file}
}

// CondaPkgsDir is the package cache conda-family solves and builds use:
// node-local, beside the envs in the stage directory (.senv/conda-pkgs),
// never the user's pkgs_dirs (often on the shared filesystem, and written
// by every build). With no stage directory it is under tmp.
func CondaPkgsDir(stageDir, tmp string) string {
	if stageDir == "" {
		return filepath.Join(tmp, "pkgs")
	}
	return filepath.Join(stageDir, ".senv", "conda-pkgs")
}

// WithCondaPkgsDir returns r with the package cache of every conda-family
// tool set to dir: conda, mamba and micromamba all read CONDA_PKGS_DIRS,
// over any .condarc. r itself is not changed.
func (r Runner) WithCondaPkgsDir(dir string) Runner {
	r.Env = append(append([]string(nil), r.Env...), "CONDA_PKGS_DIRS="+dir)
	return r
}

// PackageCount is the number of packages the lock installs: its Python
// packages and the lines of its @EXPLICIT list.
func (l *Lock) PackageCount() int {
	n := len(l.Packages)
	if l.Explicit != "" {
		n += strings.Count(strings.TrimSpace(l.Explicit), "\n")
	}
	return n
}

// condaDryRun runs the dry-run solve and parses its JSON. A failure the
// solver explains in its output is reported in its own words.
func condaDryRun(ctx context.Context, r Runner, manager string, argv []string) ([]CondaPackage, error) {
	out, runErr := r.Output(ctx, argv...)
	pkgs, err := ParseCondaDryRun(out)
	var solveErr *CondaSolveError
	switch {
	case errors.As(err, &solveErr):
		return nil, fmt.Errorf("failed to solve with %s: %w", manager, err)
	case runErr != nil && err != nil:
		return nil, fmt.Errorf("failed to solve with %s: %w\n%s", manager, runErr, indent(string(out)))
	case runErr != nil:
		return nil, fmt.Errorf("failed to solve with %s: %w", manager, runErr)
	case err != nil:
		return nil, fmt.Errorf("failed to solve with %s: %w", manager, err)
	}
	return pkgs, nil
}

// CondaSolveArgs returns the dry-run solve command for a conda-family spec:
// its channels in priority order and nothing else (--override-channels),
// its match specs, and python=VERSION when the spec asks for a python that
// no match spec names. --solver is passed to conda only: mamba and
// micromamba have one solver.
func CondaSolveArgs(bin string, s *Spec, prefix string) []string {
	args := []string{bin, "create", "--dry-run", "--json", "--yes", "--prefix", prefix, "--override-channels"}
	for _, ch := range condaChannels(s) {
		args = append(args, "--channel", ch)
	}
	if s.Manager == "conda" && s.Solver != "" {
		args = append(args, "--solver="+s.Solver)
	}
	return append(args, condaSpecs(s)...)
}

// condaChannels returns the spec's channels, or the default one. The
// environment.yml marker "nodefaults" is dropped: --override-channels already
// leaves defaults out, and on a command line it would name a channel.
func condaChannels(s *Spec) []string {
	var chs []string
	for _, ch := range s.Channels {
		if ch != "nodefaults" {
			chs = append(chs, ch)
		}
	}
	if len(chs) == 0 {
		chs = []string{DefaultCondaChannel}
	}
	return chs
}

func condaSpecs(s *Spec) []string {
	specs := append([]string(nil), s.Conda...)
	if s.Python == "" {
		return specs
	}
	for _, sp := range specs {
		if condaSpecName(sp) == "python" {
			return specs
		}
	}
	if spec, err := jobspec.ParsePythonSpec(s.Python); err == nil && !spec.Bare() {
		return append(specs, "python"+strings.ReplaceAll(s.Python, " ", "")) // a range is a match spec as it is: python>=3.10,<3.13
	}
	return append(specs, "python="+s.Python)
}

// condaSpecName returns the package name of a match spec such as
// "conda-forge::numpy>=1.26" or "python 3.11.*".
func condaSpecName(spec string) string {
	if i := strings.LastIndex(spec, "::"); i >= 0 {
		spec = spec[i+2:]
	}
	if i := strings.IndexAny(spec, " =<>!~[;"); i >= 0 {
		spec = spec[:i]
	}
	return strings.ToLower(strings.TrimSpace(spec))
}

// condaTool names the builder from `--version`: conda prints "conda 24.1.2",
// mamba 1 "mamba 1.5.8" and "conda 24.1.2" on two lines, micromamba and
// mamba 2 a bare version.
func condaTool(manager string, out []byte) string {
	var parts []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch len(f) {
		case 0:
			continue
		case 1:
			parts = append(parts, manager+" "+f[0])
		default:
			parts = append(parts, strings.Join(f, " "))
		}
	}
	return strings.Join(parts, ", ")
}

// CondaPackage is one package a conda-family solve links into the
// environment.
type CondaPackage struct {
	Name     string
	Version  string
	DistName string // name-version-build: its directory in a package cache
	URL      string
	MD5      string
}

// CondaSolveError is a failure the solver reported in its JSON output, such
// as a package no channel provides or conflicting requirements. Msg is the
// solver's own message.
type CondaSolveError struct{ Msg string }

func (e *CondaSolveError) Error() string { return e.Msg }

// condaRecord holds the fields of a package record that the conda family
// prints: conda's LINK entries are sparse (base_url, channel, dist_name,
// platform), its FETCH entries and every micromamba/mamba 2 entry are full
// repodata records (fn, url, md5, subdir, channel).
type condaRecord struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	DistName string `json:"dist_name"`
	Fn       string `json:"fn"`
	URL      string `json:"url"`
	MD5      string `json:"md5"`
	Channel  string `json:"channel"`
	BaseURL  string `json:"base_url"`
	Platform string `json:"platform"`
	Subdir   string `json:"subdir"`
}

func (c condaRecord) distName() string {
	if c.DistName != "" {
		return c.DistName
	}
	return strings.TrimSuffix(strings.TrimSuffix(c.Fn, ".conda"), ".tar.bz2")
}

func (c condaRecord) url() string {
	subdir := c.Subdir
	if subdir == "" {
		subdir = c.Platform
	}
	switch {
	case c.URL != "":
		return c.URL
	case c.Fn == "":
		return ""
	case strings.Contains(c.Channel, "://") && subdir != "" && strings.HasSuffix(c.Channel, "/"+subdir):
		return c.Channel + "/" + c.Fn // micromamba 1: the channel URL includes the subdir
	case c.BaseURL != "" && subdir != "":
		return strings.TrimSuffix(c.BaseURL, "/") + "/" + subdir + "/" + c.Fn
	}
	return ""
}

type condaActions struct {
	Link  []condaRecord `json:"LINK"`
	Fetch []condaRecord `json:"FETCH"`
}

// ParseCondaDryRun reads what `conda|mamba|micromamba create --dry-run
// --json` prints and returns the packages to link, in the solver's order (a
// dependency order, which an explicit install keeps). Virtual packages
// ("__glibc") are left out. A package conda links from its package cache
// has no URL and MD5: see FillFromPackageCache. A failure reported in the
// output is a *CondaSolveError.
func ParseCondaDryRun(data []byte) ([]CondaPackage, error) {
	var out struct {
		Actions        json.RawMessage `json:"actions"`
		Success        *bool           `json:"success"`
		Error          string          `json:"error"`
		ExceptionName  string          `json:"exception_name"`
		Message        string          `json:"message"`
		SolverProblems []string        `json:"solver_problems"`
	}
	if err := decodeJSONObject(data, &out); err != nil {
		return nil, fmt.Errorf("failed to parse the solver's output: %w", err)
	}
	switch {
	case out.Error != "":
		return nil, &CondaSolveError{Msg: strings.TrimSpace(out.Error)}
	case out.ExceptionName != "":
		return nil, &CondaSolveError{Msg: strings.TrimSpace(out.ExceptionName + ": " + out.Message)}
	case out.Success != nil && !*out.Success:
		msg := "the solve failed"
		if len(out.SolverProblems) > 0 {
			msg += ":\n  - " + strings.Join(out.SolverProblems, "\n  - ")
		}
		return nil, &CondaSolveError{Msg: msg}
	}
	// conda 4.4 and later, mamba and micromamba print one object; conda 4.3
	// printed a list of them.
	var groups []condaActions
	if a := bytes.TrimSpace(out.Actions); len(a) > 0 && a[0] == '[' {
		if err := json.Unmarshal(a, &groups); err != nil {
			return nil, fmt.Errorf("failed to parse the solver's actions: %w", err)
		}
	} else if len(a) > 0 {
		var g condaActions
		if err := json.Unmarshal(a, &g); err != nil {
			return nil, fmt.Errorf("failed to parse the solver's actions: %w", err)
		}
		groups = append(groups, g)
	}
	fetched := map[string]condaRecord{}
	var link []condaRecord
	for _, g := range groups {
		for _, f := range g.Fetch {
			fetched[f.distName()] = f
		}
		link = append(link, g.Link...)
	}
	var pkgs []CondaPackage
	for _, rec := range link {
		if strings.HasPrefix(rec.Name, "__") {
			continue
		}
		p := CondaPackage{Name: rec.Name, Version: rec.Version, DistName: rec.distName(), URL: rec.url(), MD5: rec.MD5}
		if f, ok := fetched[p.DistName]; ok {
			p.URL, p.MD5 = firstNonEmpty(p.URL, f.url()), firstNonEmpty(p.MD5, f.MD5)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("failed to parse the solver's output: it lists no packages to install")
	}
	return pkgs, nil
}

// decodeJSONObject decodes the first JSON object in data, skipping what a
// tool printed around it (mamba 1 printed "DryRunExit: Dry run. Exiting."
// before it, and early versions a second copy after it).
func decodeJSONObject(data []byte, v any) error {
	for i := 0; i < len(data); i++ {
		if data[i] != '{' {
			continue
		}
		if err := json.NewDecoder(bytes.NewReader(data[i:])).Decode(v); err == nil {
			return nil
		}
	}
	return fmt.Errorf("no JSON object in %q", truncate(string(bytes.TrimSpace(data)), 2000))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ParseCondaPkgsDirs reads the package cache directories from `info --json`:
// conda and mamba 1 call them "pkgs_dirs", micromamba and mamba 2 "package
// cache".
func ParseCondaPkgsDirs(data []byte) ([]string, error) {
	var info struct {
		PkgsDirs     []string `json:"pkgs_dirs"`
		PackageCache []string `json:"package cache"`
	}
	if err := decodeJSONObject(data, &info); err != nil {
		return nil, fmt.Errorf("failed to parse info: %w", err)
	}
	return append(info.PkgsDirs, info.PackageCache...), nil
}

// FillFromPackageCache completes packages that have no URL or MD5 from the
// repodata_record.json that a package cache keeps for each extracted
// package. Packages not found are left as they are.
func FillFromPackageCache(pkgs []CondaPackage, dirs []string) {
	for i := range pkgs {
		p := &pkgs[i]
		if p.URL != "" && p.MD5 != "" || p.DistName == "" {
			continue
		}
		for _, dir := range dirs {
			data, err := os.ReadFile(filepath.Join(dir, p.DistName, "info", "repodata_record.json"))
			if err != nil {
				continue
			}
			var rec condaRecord
			if json.Unmarshal(data, &rec) != nil || rec.url() == "" || rec.MD5 == "" {
				continue
			}
			p.URL, p.MD5 = rec.url(), rec.MD5
			break
		}
	}
}

func condaComplete(pkgs []CondaPackage) bool {
	for _, p := range pkgs {
		if p.URL == "" || p.MD5 == "" {
			return false
		}
	}
	return true
}

var (
	md5Re         = regexp.MustCompile(`^[0-9a-f]{32}$`)
	condaPkgURLRe = regexp.MustCompile(`^[a-z][a-z0-9+.-]*://\S+/[^/#\s]+(\.conda|\.tar\.bz2)$`)
)

// ExplicitList renders packages as conda's @EXPLICIT format, one URL#MD5
// line each in the given order: the file `create --file` installs without a
// solve, checking each download against its MD5.
func ExplicitList(pkgs []CondaPackage) (string, error) {
	var b strings.Builder
	b.WriteString("@EXPLICIT\n")
	for _, p := range pkgs {
		if !condaPkgURLRe.MatchString(p.URL) || !md5Re.MatchString(p.MD5) {
			return "", fmt.Errorf("no package URL and MD5 for %s (url %q, md5 %q)", p.DistName, p.URL, p.MD5)
		}
		b.WriteString(p.URL + "#" + p.MD5 + "\n")
	}
	return b.String(), nil
}
