package solver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/senv-hpc/senv/internal/inputfile"
	"github.com/senv-hpc/senv/jobspec"
)

// maxProjectFile bounds pyproject.toml and uv.lock (a large uv.lock is a
// few MB).
const maxProjectFile = 16 << 20

// Project is a pyproject.toml the spec installs the dependencies of: its
// [project] dependencies, the extras and dependency groups asked for, with
// [tool.uv.sources] and dynamic dependencies as the resolver computes them
// (uv and pip build the metadata with the project's build backend). With a
// uv.lock beside it, the lock is installed as it is, without a solve.
type Project struct {
	Path   string   `json:"path"` // pyproject.toml, absolute
	Extras []string `json:"extras,omitempty"`
	Groups []string `json:"groups,omitempty"`
	UVLock bool     `json:"uv_lock,omitempty"`
	// Dynamic: the dependencies come from the build backend, so the
	// whole tree is in the spec key (Spec.Files).
	Dynamic bool `json:"dynamic,omitempty"`
	// Name is the project's own name, left out of the env (only its
	// dependencies are installed).
	Name string `json:"-"`
	// Static are the [project] dependencies and those of the extras asked
	// for, when they are not dynamic: pip is given them as they are (PEP
	// 621 static metadata) instead of building the project's metadata.
	Static []string `json:"-"`
}

// pyproject is what senv reads of a pyproject.toml before any tool runs.
type pyproject struct {
	Project *struct {
		Name                 string              `toml:"name"`
		Dependencies         []string            `toml:"dependencies"`
		RequiresPython       string              `toml:"requires-python"`
		Dynamic              []string            `toml:"dynamic"`
		OptionalDependencies map[string][]string `toml:"optional-dependencies"`
	} `toml:"project"`
	DependencyGroups map[string][]any `toml:"dependency-groups"`
	Tool             struct {
		UV *struct {
			Sources map[string]any `toml:"sources"`
		} `toml:"uv"`
		Poetry *struct {
			Name string `toml:"name"`
		} `toml:"poetry"`
	} `toml:"tool"`
}

// addPyproject adds a pyproject.toml (and its uv.lock, if any) to the spec.
func (s *Spec) addPyproject(path string, extras, groups []string) error {
	bad := func(msg, hint string) error {
		return &jobspec.Error{Pos: jobspec.Pos{File: path}, Key: "file", Msg: msg, Hint: hint}
	}
	data, err := inputfile.Read(path, maxProjectFile)
	if err != nil {
		return fileError("file", path, err)
	}
	if err := inputfile.CheckTOML(data); err != nil {
		return bad("not valid TOML: "+err.Error(), "")
	}
	var pp pyproject
	if _, err := toml.Decode(string(data), &pp); err != nil {
		return bad("not valid TOML: "+err.Error(), "")
	}
	dir := filepath.Dir(path)
	p := &Project{Path: path, Extras: extras, Groups: groups}
	s.addFileHash(path, data)
	switch {
	case pp.Project == nil && pp.Tool.Poetry != nil:
		p.Dynamic, p.Name = true, pp.Tool.Poetry.Name // poetry's own table: its backend gives the metadata
	case pp.Project == nil:
		if _, err := os.Stat(filepath.Join(dir, "setup.py")); err != nil {
			return bad("no [project] table (and no setup.py or [tool.poetry])", "add a [project] table with dependencies (PEP 621)")
		}
		p.Dynamic = true
	default:
		p.Name = pp.Project.Name
		for _, d := range pp.Project.Dynamic {
			if d == "dependencies" || d == "optional-dependencies" {
				p.Dynamic = true
			}
		}
		if s.Python == "" {
			s.Python = strings.TrimSpace(pp.Project.RequiresPython)
		}
		for _, e := range extras {
			if _, ok := pp.Project.OptionalDependencies[e]; !ok && !p.Dynamic {
				return bad(fmt.Sprintf("#ENV extra %s: the project has no such extra", e), "its extras: "+strings.Join(sortedKeys(pp.Project.OptionalDependencies), ", "))
			}
		}
		if !p.Dynamic {
			p.Static = append([]string(nil), pp.Project.Dependencies...)
			for _, e := range extras {
				p.Static = append(p.Static, pp.Project.OptionalDependencies[e]...)
			}
			for _, d := range pp.Project.Dependencies {
				if req, err := jobspec.ParseRequirement(d); err == nil {
					s.Requested = append(s.Requested, Requested{ID: normName(req.Name), Text: d, Pos: jobspec.Pos{File: path}, Conditional: req.Marker != ""})
				} else {
					return bad(fmt.Sprintf("dependencies: %q: %v", d, err), "")
				}
			}
		}
	}
	for _, g := range groups {
		if _, ok := pp.DependencyGroups[g]; !ok {
			return bad(fmt.Sprintf("#ENV group %s: the project has no such dependency group", g), "its groups: "+strings.Join(sortedKeys(pp.DependencyGroups), ", "))
		}
	}
	if p.Dynamic {
		sum, err := TreeHash(dir)
		if err != nil {
			return bad(err.Error(), "")
		}
		s.Files = append(s.Files, "tree "+sum+"  "+dir)
	}
	lockPath := filepath.Join(dir, "uv.lock")
	if lock, err := inputfile.Read(lockPath, maxProjectFile); err == nil {
		p.UVLock = true
		s.addFileHash(lockPath, lock)
	} else if !os.IsNotExist(err) {
		return fileError("file", lockPath, err)
	}
	if pp.Tool.UV != nil && len(pp.Tool.UV.Sources) > 0 && s.Manager == "venv" {
		return bad("[tool.uv.sources] is read by uv only: pip would resolve these packages from the index instead",
			"use `#ENV manager uv` (the default when uv is installed)")
	}
	s.Project = p
	return nil
}

// addFileHash records the contents of a file the spec depends on.
func (s *Spec) addFileHash(path string, data []byte) {
	sum := sha256.Sum256(data)
	s.Files = append(s.Files, hex.EncodeToString(sum[:])+"  "+path)
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// solveProject locks a project's dependencies. With a uv.lock, `uv export
// --locked` writes it as a pylock.toml (and fails when uv.lock is out of
// date with pyproject.toml); otherwise uv resolves pyproject.toml itself,
// or pip resolves the project directory and the project is left out.
func solveProject(ctx context.Context, l *Lock, p *Project, r Runner, uv string, pipArgs []string, tmp string) ([]Package, error) {
	dir := filepath.Dir(p.Path)
	out := filepath.Join(tmp, "pylock.toml")
	r.Dir = dir
	var args []string
	for _, e := range p.Extras {
		args = append(args, "--extra", e)
	}
	for _, g := range p.Groups {
		args = append(args, "--group", g)
	}
	if p.UVLock {
		argv := append([]string{uv, "export", "--locked", "--format", "pylock.toml", "--no-emit-project", "--no-header", "--quiet", "--output-file", out}, args...)
		if _, err := r.Output(ctx, argv...); err != nil {
			return nil, fmt.Errorf("failed to install the uv project from uv.lock (if uv.lock is out of date, run `uv lock` in %s): %w", dir, err)
		}
	} else if l.Manager == "venv" {
		return nil, nil // solvePip adds the project directory to its requirements
	} else {
		argv := append([]string{uv, "pip", "compile", "--quiet", "--format", "pylock.toml", "--no-header", "--output-file", out,
			"--python", l.Python}, append(append(l.SourceArgs(), pipArgs...), args...)...)
		if _, err := r.Output(ctx, append(argv, p.Path)...); err != nil {
			return nil, fmt.Errorf("failed to solve %s with uv: %w", p.Path, err)
		}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("failed to read uv's pylock.toml: %w", err)
	}
	return ParsePylock(data, out, filepath.Dir(out)) // PEP 751: paths are relative to the lock file
}

// addPylockFile adds a PEP 751 lock the user wrote with pip, uv or pdm: it
// is installed as it is, without a solve.
func (s *Spec) addPylockFile(path string) error {
	data, err := inputfile.Read(path, maxLockSize)
	if err != nil {
		return fileError("file", path, err)
	}
	if _, err := ParsePylock(data, path, filepath.Dir(path)); err != nil {
		return &jobspec.Error{Pos: jobspec.Pos{File: path}, Key: "file", Msg: strings.TrimPrefix(err.Error(), path+": "),
			Hint: "write it again with `pip lock`, `uv pip compile --format pylock.toml` or `uv export --format pylock.toml`"}
	}
	s.addFileHash(path, data)
	s.PylockFile = path
	return nil
}
