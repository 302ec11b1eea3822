package check

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/solver"
)

// Spec runs every check that needs no solve on s, a script at path in dir:
// referenced files, module names, and the files' contents (requirements,
// pyproject, environment.yml). Errors in a referenced file are reported at
// the script line that names it.
func Spec(s *jobspec.Script, cfg *config.Config, dir, path string) jobspec.ErrorList {
	errs := Files(s, dir)
	errs = append(errs, Modules(s, cfg)...)
	if len(errs) > 0 {
		return errs
	}
	if _, err := solver.Canonicalize(&s.Env, dir, cfg); err != nil {
		if list := jobspec.AsErrorList(err); list != nil {
			for _, e := range list {
				atDirective(s, e, dir, path)
			}
			return list
		}
		return jobspec.ErrorList{{Pos: jobspec.Pos{File: path}, Msg: err.Error()}}
	}
	return nil
}

// atDirective moves an error found in a referenced file (a requirements
// file, pyproject.toml, environment.yml) to the script line that names it,
// keeping the file's own position in the message: the user starts from the
// script.
func atDirective(s *jobspec.Script, e *jobspec.Error, dir, path string) {
	if e.Pos.File == dir { // about the spec as a whole, or one key of it
		e.Pos = jobspec.Pos{File: path}
		for _, d := range s.Directives {
			if d.Key == e.Key {
				e.Pos = d.Pos
				break
			}
		}
		return
	}
	if e.Pos.File == path || e.Key == "" {
		return
	}
	for _, d := range s.Directives {
		if d.Key == e.Key || (e.Key == "requirements" && d.Key == "file") {
			where := e.Pos
			if rel, err := filepath.Rel(dir, where.File); err == nil {
				where.File = rel
			}
			e.Msg = where.String() + ": " + e.Msg
			e.Pos = d.Pos
			return
		}
	}
}

// Files reports referenced files that do not exist, at their directive's
// line. Relative paths are relative to dir.
func Files(s *jobspec.Script, dir string) jobspec.ErrorList {
	var errs jobspec.ErrorList
	for _, d := range s.Directives {
		var paths []string
		switch d.Key {
		case "requirements", "file":
			paths = d.Values
		case "find-links":
			for _, v := range d.Values {
				if !strings.Contains(v, "://") {
					paths = append(paths, v)
				}
			}
		case "use":
			if !strings.HasPrefix(d.Values[0], "conda:") {
				paths = d.Values
			}
		}
		for _, p := range paths {
			full := p
			if !filepath.IsAbs(p) {
				full = filepath.Join(dir, p)
			}
			if _, err := os.Stat(full); err != nil {
				errs = append(errs, &jobspec.Error{Pos: d.Pos, Key: d.Key, Msg: fmt.Sprintf("%s: no such file or directory", p),
					Hint: "paths are relative to the script's directory (" + dir + ")"})
			}
		}
	}
	return errs
}

// Warnings returns the warnings about s's spec: those about its files (an
// environment.yml's name:, an unknown key), with paths relative to dir,
// and ToolWarning's.
func Warnings(s *jobspec.Script, cfg *config.Config, dir, path string) []string {
	spec, err := solver.Canonicalize(&s.Env, dir, cfg)
	if err != nil {
		return nil
	}
	var out []string
	for _, w := range spec.Warnings {
		if rel, err := filepath.Rel(dir, w.Pos.File); err == nil {
			w.Pos.File = rel
		}
		out = append(out, "senv: "+w.String())
	}
	if w := toolWarning(spec, cfg, path); w != "" {
		out = append(out, w)
	}
	return out
}

// ToolWarning returns a warning when the builder that s's spec needs is
// not on this host, else "". Building here would fail; running on a node
// that has it would not, so it is no error (SPEC §5). With modules it says
// nothing: a module may bring the tool (miniconda/3).
func ToolWarning(s *jobspec.Script, cfg *config.Config, dir, path string) string {
	spec, err := solver.Canonicalize(&s.Env, dir, cfg)
	if err != nil {
		return ""
	}
	return toolWarning(spec, cfg, path)
}

func toolWarning(spec *solver.Spec, cfg *config.Config, path string) string {
	if len(spec.Modules) > 0 {
		return ""
	}
	m := spec.Manager
	bin := map[string]string{"uv": cfg.UV, "conda": cfg.Conda, "mamba": cfg.Mamba, "micromamba": cfg.Micromamba}[m]
	if bin == "" {
		return ""
	}
	if _, err := exec.LookPath(bin); err != nil {
		return fmt.Sprintf("%s: warning: manager %s: %s not found on this host; building here will fail", path, m, bin)
	}
	return ""
}
