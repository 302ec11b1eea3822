package solver

import (
	"context"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
)

// moduleAvailTimeout bounds the `module -t avail` of pickPythonModule;
// past it the range is matched against the PATH. A variable for a test.
var moduleAvailTimeout = 30 * time.Second

// pickPythonModule chooses, for a version range, the newest site python
// module (python_module, e.g. "python/{version}") whose version the range
// allows, from one `module -t avail` of the module name. It returns "" when
// there is no module system or no such module: the range is then matched
// against the PATH. This runs a shell with the module system (about 0.1 s
// with Lmod), on every job start of a spec with a range: write an exact
// `#ENV python 3.11` to avoid it.
func pickPythonModule(spec jobspec.PythonSpec, cfg *config.Config) string {
	prefix, suffix, ok := strings.Cut(cfg.PythonModule, "{version}")
	if !ok {
		return ""
	}
	init := ""
	for _, f := range cfg.ModuleInit {
		if _, err := os.Stat(f); err == nil {
			init = f
			break
		}
	}
	if init == "" {
		return ""
	}
	// values go in as arguments, never as shell text; Lmod and Environment
	// Modules print the terse list on stderr
	const script = `. "$1" >/dev/null 2>&1; module -t avail "$2" 2>&1`
	// bounded: a module system on a hung filesystem must not hold a job
	// start (or the TaskProlog, which has no deadline of its own)
	ctx, cancel := context.WithTimeout(context.Background(), moduleAvailTimeout)
	defer cancel()
	out, err := Runner{}.Output(ctx, "/bin/sh", "-c", script, "sh", init, prefix)
	if err != nil {
		return ""
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `([0-9][0-9.]*)` + regexp.QuoteMeta(suffix) + `(?:\(default\)|\s*<[^>]*>)?$`)
	best, bestVersion := "", ""
	for _, line := range strings.Split(string(out), "\n") {
		m := re.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil || !spec.Allows(m[1]) {
			continue
		}
		if best == "" || newerVersion(m[1], bestVersion) {
			best, bestVersion = prefix+m[1]+suffix, m[1]
		}
	}
	return best
}

// newerVersion reports whether dotted version a is newer than b.
func newerVersion(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			x = atoi(pa[i])
		}
		if i < len(pb) {
			y = atoi(pb[i])
		}
		if x != y {
			return x > y
		}
	}
	return false
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
