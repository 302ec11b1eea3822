package check

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/templates"
)

// Modules asks the module system, where there is one, whether every
// module of s can be loaded, and reports each one that cannot at its
// directive's line. It runs one shell (see templates.ModuleCheck): the
// modules are loaded in groups, and only where a group fails, in halves,
// down to the modules that fail alone. It used to start a shell, and Lmod,
// per module: 1,000 modules took 143 s.
func Modules(s *jobspec.Script, cfg *config.Config) jobspec.ErrorList {
	type module struct {
		d    jobspec.Directive
		name string
	}
	var mods []module
	for _, d := range s.Directives {
		if d.Key == "module" {
			for _, m := range d.Values {
				mods = append(mods, module{d, m})
			}
		}
	}
	if len(mods) == 0 || ModuleInit(cfg) == "" {
		return nil
	}
	names := make([]string, len(mods))
	for i, m := range mods {
		names[i] = m.name
	}
	var errs jobspec.ErrorList
	for _, i := range missingModules(cfg, names) {
		m := mods[i]
		errs = append(errs, &jobspec.Error{Pos: m.d.Pos, Key: "module", Msg: fmt.Sprintf("%s: no such module", m.name),
			Hint: "see `module avail` or `module spider " + strings.Split(m.name, "/")[0] + "`"})
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

// shell runs the module check; tests count its runs through a wrapper.
var shell = "/bin/sh"

// missingModules returns the indexes, in order, of the names that cannot
// be loaded. If the check itself cannot run, every name is missing: the
// module system cannot vouch for any.
func missingModules(cfg *config.Config, names []string) []int {
	all := make([]int, len(names))
	for i := range all {
		all[i] = i
	}
	argv, err := templates.ModuleCheck{ModuleInit: cfg.ModuleInit}.Command(names...)
	if err != nil {
		return all
	}
	out, err := exec.Command(shell, argv[1:]...).Output()
	if err != nil {
		return all
	}
	var missing []int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		n, err := strconv.Atoi(strings.TrimPrefix(line, "missing "))
		if line == "" {
			continue
		}
		if err != nil || n < 1 || n > len(names) {
			return all
		}
		missing = append(missing, n-1)
	}
	sort.Ints(missing)
	return missing
}
