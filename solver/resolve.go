package solver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/internal/inputfile"
	"github.com/senv-hpc/senv/jobspec"
)

// RunnerFor returns the Runner for a spec under a config.
func RunnerFor(s *Spec, cfg *config.Config) Runner {
	return Runner{ModuleInit: cfg.ModuleInit, Modules: s.Modules}
}

// Interpreter finds the spec's base interpreter with its modules loaded and
// returns its path and full version.
func Interpreter(ctx context.Context, s *Spec, r Runner, uv string) (path, version string, err error) {
	interp := s.Interpreter
	if s.Manager == "uv" && s.Python != "" && len(s.Modules) == 0 {
		// not on PATH? uv knows the interpreters it manages (SPEC §2), and
		// takes a version range as it is
		if _, lookErr := exec.LookPath(interp); interp == "" || lookErr != nil {
			if out, err := r.Output(ctx, uv, "python", "find", s.Python); err == nil {
				interp = strings.TrimSpace(string(out))
			}
		}
	}
	if interp == "" {
		return "", "", fmt.Errorf("failed to find a python that satisfies %q on PATH or among uv's interpreters", s.Python)
	}
	query := "print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])"
	out, err := r.Output(ctx, PythonCode(interp, query)...)
	for _, next := range s.candidates {
		if err == nil {
			break
		}
		if next != interp {
			interp = next
			out, err = r.Output(ctx, PythonCode(interp, query)...)
		}
	}
	if err != nil {
		where := "on PATH"
		if len(s.Modules) > 0 {
			where += " after `module load " + strings.Join(s.Modules, " ") + "`"
		}
		return "", "", fmt.Errorf("failed to find python interpreter %q %s: %w", interp, where, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		return "", "", fmt.Errorf("failed to query interpreter %q: unexpected output %q", interp, out)
	}
	path, version = lines[0], lines[1]
	if s.Python != "" {
		spec, err := jobspec.ParsePythonSpec(s.Python)
		if err != nil {
			return "", "", fmt.Errorf("failed to find python %s: %w", s.Python, err)
		}
		if !spec.Allows(version) {
			return "", "", fmt.Errorf("failed to find python %s: %s is version %s", s.Python, path, version)
		}
	}
	return path, version, nil
}

// Solve resolves the spec with its manager's resolver and returns the lock.
// tmp is a scratch directory the caller removes.
func Solve(ctx context.Context, s *Spec, cfg *config.Config, tmp string) (*Lock, error) {
	r := RunnerFor(s, cfg)
	// The tools' own temp files (pip's build and unpack dirs) go in tmp
	// too, so that removing tmp, or sweeping it after a crash, removes them.
	r.Env = append(r.Env, "TMPDIR="+tmp)
	l := &Lock{Version: LockVersion, SpecKey: s.Key(), Manager: s.Manager, Modules: s.Modules, Platform: s.Platform, SystemSite: s.SystemSite,
		IndexURL: s.IndexURL, ExtraIndexURLs: s.ExtraIndexURLs, FindLinks: s.FindLinks, NoIndex: s.NoIndex, Channels: s.Channels}
	var err error
	switch {
	case s.Manager == "venv" || s.Manager == "uv":
		if l.Python, l.PythonVersion, err = Interpreter(ctx, s, r, cfg.UV); err != nil {
			return nil, err
		}
		err = SolvePython(ctx, l, s, r, cfg, tmp)
	case IsConda(s.Manager):
		err = solveConda(ctx, l, s, r, cfg, tmp)
	default:
		return nil, fmt.Errorf("failed to solve: spec has no manager")
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

// SolvePython locks the spec's Python requirements (s.Pip and
// s.RequirementFiles) into l.Packages, resolved for the interpreter
// l.Python: with uv when the manager is uv (or a conda-family env when uv is
// found), else with that interpreter's pip. The requirements files are given
// to the resolver as they are, so pip's whole file format (-c, --hash, -e,
// options, markers) means what it means to the tool. The lock must hold
// every top-level requirement (CheckLocked). tmp is a scratch directory the
// caller removes.
func SolvePython(ctx context.Context, l *Lock, s *Spec, r Runner, cfg *config.Config, tmp string) error {
	r.Dir = s.WorkDir
	if err := l.setPythonTool(ctx, r, cfg.UV); err != nil {
		return err
	}
	var pipArgs []string // pip's configuration, as uv options
	if s.Manager != "venv" {
		var env []string
		var err error
		if pipArgs, env, err = uvFromPipConfig(l, pipConfigFor(ctx, l, r)); err != nil {
			return err
		}
		r.Env = append(append([]string(nil), r.Env...), env...)
	}
	if s.SystemSite {
		if err := l.findProvided(ctx, r); err != nil {
			return err
		}
	}
	var err error
	switch {
	case s.PylockFile != "":
		var data []byte
		if data, err = inputfile.Read(s.PylockFile, maxLockSize); err == nil {
			l.Packages, err = ParsePylock(data, s.PylockFile, filepath.Dir(s.PylockFile))
		}
	case s.Project != nil && (s.Project.UVLock || s.Manager != "venv" && len(s.Pip)+len(s.RequirementFiles) == 0):
		l.Packages, err = solveProject(ctx, l, s.Project, r, cfg.UV, pipArgs, tmp)
	default:
		in := strings.Join(s.Pip, "\n") + "\n"
		for _, f := range s.RequirementFiles {
			in += "-r " + f + "\n"
		}
		sources, extra := []string(nil), pipArgs
		if p := s.Project; p != nil {
			if s.Manager == "venv" {
				in += projectRequirement(p) + "\n" // groups: refused by checkManagerReads
			} else {
				sources = append(sources, p.Path)
				for _, e := range p.Extras {
					extra = append(extra, "--extra", e)
				}
				for _, g := range p.Groups {
					extra = append(extra, "--group", g)
				}
			}
		}
		reqs := filepath.Join(tmp, "requirements.in")
		if err := os.WriteFile(reqs, []byte(in), 0o644); err != nil {
			return fmt.Errorf("failed to write requirements: %w", err)
		}
		if s.Manager == "venv" || s.SystemSite {
			// uv resolves as if nothing were installed; pip counts what the
			// base interpreter has, as it will in the env (uv still builds)
			err = solvePip(ctx, l, r, reqs, tmp)
		} else {
			err = solveUV(ctx, l, s, r, cfg.UV, append([]string{reqs}, sources...), extra, tmp)
		}
		if err == nil && s.Project != nil {
			l.dropProject(s.Project)
		}
	}
	if err != nil {
		return err
	}
	if err := l.hashTrees(); err != nil {
		return err
	}
	return CheckLocked(l, s.Requested)
}

// findProvided records what the base interpreter, with the spec's modules
// loaded, already has: the distributions on its sys.path (its own
// site-packages and what modules add through PYTHONPATH).
func (l *Lock) findProvided(ctx context.Context, r Runner) error {
	out, err := r.Output(ctx, PythonCode(l.Python, "import importlib.metadata as m\n"+
		"for d in m.distributions():\n    n = d.metadata['Name']\n    n and print(n + '==' + d.version)")...)
	if err != nil {
		return fmt.Errorf("failed to list the packages %s provides: %w", l.Python, err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, ver, ok := strings.Cut(line, "==")
		if !ok || seen[normName(name)] {
			continue // the first on sys.path is the one imported
		}
		seen[normName(name)] = true
		l.Provided = append(l.Provided, normName(name)+"=="+ver)
	}
	sort.Strings(l.Provided)
	return nil
}

// projectRequirement is what makes pip resolve a project's dependencies:
// static ones as they are, else the project directory with the extras asked
// for (pip builds its metadata with the project's backend).
func projectRequirement(p *Project) string {
	if !p.Dynamic {
		return strings.Join(p.Static, "\n")
	}
	line := filepath.Dir(p.Path)
	if len(p.Extras) > 0 {
		line += "[" + strings.Join(p.Extras, ",") + "]"
	}
	return line
}

// dropProject leaves the project itself out of the lock: senv installs its
// dependencies (write `-e .` in a requirements file to install it too).
func (l *Lock) dropProject(p *Project) {
	dir := filepath.Dir(p.Path)
	kept := l.Packages[:0]
	for _, pkg := range l.Packages {
		if pkg.Kind() == "directory" && filepath.Clean(pkg.Directory.Path) == dir {
			continue
		}
		kept = append(kept, pkg)
	}
	l.Packages = kept
}

// setPythonTool records the tool that installs the lock's Python packages:
// uv for the uv manager, else the base interpreter's pip.
func (l *Lock) setPythonTool(ctx context.Context, r Runner, uv string) error {
	if l.Manager == "venv" {
		ver, err := r.Output(ctx, PythonModule(l.Python, "pip", "--version")...)
		if err != nil {
			return fmt.Errorf("failed to run pip for %s (the venv manager needs pip in the base interpreter; try `#ENV manager uv`): %w", l.Python, err)
		}
		l.Tool = strings.Join(strings.Fields(string(ver))[:2], " ")
		return nil
	}
	ver, err := r.Output(ctx, uv, "--version")
	if err != nil {
		return fmt.Errorf("failed to run uv (install it with `pip install uv`, or use `#ENV manager venv`): %w", err)
	}
	if l.Tool == "" { // a conda env keeps its conda tool's name
		l.Tool = strings.Join(strings.Fields(string(ver))[:2], " ")
	}
	return nil
}

// hashTrees records the content hash of every local source tree the lock
// builds (not editable ones, which run from the tree itself).
func (l *Lock) hashTrees() error {
	for _, p := range l.Packages {
		if p.Kind() != "directory" || p.Directory.Editable {
			continue
		}
		sum, err := TreeHash(p.Directory.Path)
		if err != nil {
			return fmt.Errorf("failed to lock %s: %w", p.Name, err)
		}
		if l.Trees == nil {
			l.Trees = map[string]string{}
		}
		l.Trees[p.Directory.Path] = sum
	}
	return nil
}

// pip's --report format (https://pip.pypa.io/en/stable/reference/installation-report/).
type pipReport struct {
	Install []struct {
		Metadata struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"metadata"`
		IsDirect     bool `json:"is_direct"`
		DownloadInfo struct {
			URL         string `json:"url"`
			Subdir      string `json:"subdirectory"`
			ArchiveInfo *struct {
				Hash   string            `json:"hash"`
				Hashes map[string]string `json:"hashes"`
			} `json:"archive_info"`
			VCSInfo *struct {
				VCS               string `json:"vcs"`
				CommitID          string `json:"commit_id"`
				RequestedRevision string `json:"requested_revision"`
			} `json:"vcs_info"`
			DirInfo *struct {
				Editable bool `json:"editable"`
			} `json:"dir_info"`
		} `json:"download_info"`
	} `json:"install"`
}

func solvePip(ctx context.Context, l *Lock, r Runner, reqs, tmp string) error {
	report := filepath.Join(tmp, "report.json")
	args := PythonModule(l.Python, "pip", "install", "--dry-run", "--quiet", "--disable-pip-version-check", "--report", report)
	if !l.SystemSite {
		// the env starts empty; with system site packages, what the base
		// interpreter has satisfies requirements, as it will in the env
		args = append(args, "--ignore-installed")
	}
	args = append(args, l.SourceArgs()...)
	if _, err := r.Output(ctx, append(args, "-r", reqs)...); err != nil {
		return fmt.Errorf("failed to solve with pip: %w", err)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		return fmt.Errorf("failed to read pip report: %w", err)
	}
	return l.addPipReport(data)
}

// addPipReport reads pip's installation report into the lock's packages:
// index files by URL and sha256, direct URLs as archives, VCS checkouts at
// the commit pip resolved, local trees as directories.
func (l *Lock) addPipReport(data []byte) error {
	var rep pipReport
	if err := json.Unmarshal(data, &rep); err != nil {
		return fmt.Errorf("failed to parse pip report: %w", err)
	}
	for _, in := range rep.Install {
		d := in.DownloadInfo
		p := Package{Name: normName(in.Metadata.Name), Version: in.Metadata.Version}
		switch {
		case d.VCSInfo != nil:
			u, _, _ := strings.Cut(d.URL, "#")
			p.VCS = &VCS{Type: d.VCSInfo.VCS, URL: u, CommitID: d.VCSInfo.CommitID, RequestedRevision: d.VCSInfo.RequestedRevision, Subdirectory: d.Subdir}
		case d.DirInfo != nil:
			p.Directory = &Directory{Path: fileURLPath(d.URL), Editable: d.DirInfo.Editable, Subdirectory: d.Subdir}
			p.Version = ""
		case d.ArchiveInfo != nil:
			sum := d.ArchiveInfo.Hashes["sha256"]
			if h, ok := strings.CutPrefix(d.ArchiveInfo.Hash, "sha256="); ok && sum == "" {
				sum = h
			}
			if sum == "" {
				return fmt.Errorf("failed to lock %s: pip reported no sha256 for %s", p.Name, d.URL)
			}
			a := Artifact{URL: d.URL, Hashes: map[string]string{"sha256": sum}}
			switch {
			case in.IsDirect && strings.HasPrefix(d.URL, "file:"):
				a.Path, a.URL = fileURLPath(d.URL), "" // as uv writes a local file (and reads one)
				p.Archive = &a
			case in.IsDirect:
				p.Archive = &a
			case strings.HasSuffix(d.URL, ".whl"):
				a.Name = path.Base(d.URL)
				p.Wheels = []Artifact{a}
			default:
				a.Name = path.Base(d.URL)
				p.Sdist = &a
			}
		default:
			return fmt.Errorf("failed to lock %s: pip's report gives no source for it", p.Name)
		}
		l.Packages = append(l.Packages, p)
	}
	sortPackages(l.Packages)
	return nil
}

func sortPackages(pkgs []Package) {
	sort.SliceStable(pkgs, func(i, j int) bool { return pkgs[i].Name < pkgs[j].Name })
}

func solveUV(ctx context.Context, l *Lock, s *Spec, r Runner, uv string, sources, extra []string, tmp string) error {
	out := filepath.Join(tmp, "pylock.toml")
	args := append([]string{uv, "pip", "compile", "--format", "pylock.toml", "--no-header", "--output-file", out,
		"--python", l.Python}, append(l.SourceArgs(), extra...)...)
	if s.filePre {
		args = append(args, "--prerelease", "allow")
	}
	for _, h := range s.fileTrustedHosts {
		args = append(args, "--trusted-host", h)
	}
	var stderr bytes.Buffer
	if err := r.Run(ctx, nil, &stderr, append(args, sources...)...); err != nil {
		return fmt.Errorf("failed to solve with uv: %w\n%s", err, indent(stderr.String()))
	}
	if err := uvIgnored(stderr.String()); err != nil {
		return err
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return fmt.Errorf("failed to read uv's pylock.toml: %w", err)
	}
	pkgs, err := ParsePylock(data, out, filepath.Dir(out)) // PEP 751: paths are relative to the lock file
	if err != nil {
		return fmt.Errorf("failed to read uv's pylock.toml: %w", err)
	}
	l.Packages = pkgs
	return nil
}

// uvIgnoredRe is uv's warning for a requirements file option it does not
// apply (--pre, --trusted-host, --prefer-binary, --use-feature).
var uvIgnoredRe = regexp.MustCompile("warning: Ignoring unsupported option in `([^`]*)`: `([^`]*)`")

// uvIgnored fails on an option uv says it ignored that senv did not pass
// on its command line instead: the env would not be what pip makes of the
// file.
func uvIgnored(stderr string) error {
	for _, m := range uvIgnoredRe.FindAllStringSubmatch(stderr, -1) {
		if m[2] == "--pre" || m[2] == "--trusted-host" {
			continue // on uv's command line
		}
		return fmt.Errorf("failed to solve with uv: uv ignores %s in %s, so the env would differ from what pip makes of the file; remove the option, or use `#ENV manager venv`", m[2], m[1])
	}
	return nil
}
