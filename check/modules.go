package check

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/templates"
)

// Modules asks the module system, where there is one, whether every
// module of s exists, and reports each one that does not at its
// directive's line.
func Modules(s *jobspec.Script, cfg *config.Config) jobspec.ErrorList {
	var mods []jobspec.Directive
	for _, d := range s.Directives {
		if d.Key == "module" {
			mods = append(mods, d)
		}
	}
	if len(mods) == 0 || ModuleInit(cfg) == "" {
		return nil
	}
	var errs jobspec.ErrorList
	for _, d := range mods {
		for _, m := range d.Values {
			if !moduleAvailable(cfg, m) {
				errs = append(errs, &jobspec.Error{Pos: d.Pos, Key: "module", Msg: fmt.Sprintf("%s: no such module", m),
					Hint: "see `module avail` or `module spider " + strings.Split(m, "/")[0] + "`"})
			}
		}
	}
	return errs
}

// ModuleInit returns the first readable module system init script of
// cfg's module_init, or "" when there is no module system.
func ModuleInit(cfg *config.Config) string {
	for _, p := range cfg.ModuleInit {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func moduleAvailable(cfg *config.Config, name string) bool {
	block, err := templates.Activation{ModuleInit: cfg.ModuleInit, Modules: []string{name}}.Render()
	if err != nil {
		return false
	}
	cmd := exec.Command("/bin/sh", "-c", block)
	return cmd.Run() == nil
}
