package check

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/solver"
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
	missing, err := missingModules(cfg, names)
	if err != nil {
		first := mods[0].d
		return jobspec.ErrorList{&jobspec.Error{Pos: first.Pos, Key: "module", Msg: fmt.Sprintf("the module system did not answer: %v", err),
			Hint: "is its filesystem hung? try `module avail` on this node"}}
	}
	var errs jobspec.ErrorList
	for _, i := range missing {
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

// moduleCheckTimeout bounds the module check: a module system on a hung
// filesystem must not hold `senv check`, or `senv sbatch` at submit.
var moduleCheckTimeout = 2 * time.Minute

// missingModules returns the indexes, in order, of the names that cannot
// be loaded. If the check itself cannot run, every name is missing: the
// module system cannot vouch for any. If it does not end within
// moduleCheckTimeout, the error says so.
func missingModules(cfg *config.Config, names []string) ([]int, error) {
	all := make([]int, len(names))
	for i := range all {
		all[i] = i
	}
	argv, err := templates.ModuleCheck{ModuleInit: cfg.ModuleInit}.Command(names...)
	if err != nil {
		return all, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), moduleCheckTimeout)
	defer cancel()
	// supervised: the shell and what it started (Lmod's lua, a stuck stat)
	// are killed together at the deadline
	out, err := solver.Runner{}.Output(ctx, append([]string{shell}, argv[1:]...)...)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("gave up checking the modules after %s", moduleCheckTimeout)
	}
	if err != nil {
		return all, nil
	}
	var missing []int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		n, err := strconv.Atoi(strings.TrimPrefix(line, "missing "))
		if line == "" {
			continue
		}
		if err != nil || n < 1 || n > len(names) {
			return all, nil
		}
		missing = append(missing, n-1)
	}
	sort.Ints(missing)
	return missing, nil
}
