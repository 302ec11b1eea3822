//go:build e2e

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestSbatchWarnsModulePurge: `senv sbatch` of a script whose payload runs `module purge`
// warns at that line, with a hint, and still submits; the job shows why: the module that
// `#ENV module` loaded is gone after the purge, on a real Lmod (issue 12 item 3).
func TestSbatchWarnsModulePurge(t *testing.T) {
	c := Require(t)
	f := newFixture(t, c)
	script := f.write(t, "purge.sh", `#!/bin/bash
#SBATCH -t 5
#ENV module gcc/12
echo "before: TESTBED_GCC=${TESTBED_GCC-unset}"
module purge
echo "after: TESTBED_GCC=${TESTBED_GCC-unset}"
`)
	out := filepath.Join(f.Dir, "purge.out")
	id, stderr := f.sbatch(t, "-D", f.Dir, "-o", out, script)
	for _, want := range []string{script + `:5: warning: "module purge" unloads the modules senv loaded before the payload (gcc/12)`,
		"senv: hint: delete this line and list every module the job needs as #ENV module"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("senv sbatch stderr lacks %q:\n%s", want, stderr)
		}
	}
	j := f.finish(t, id, out, jobTimeout)
	mustComplete(t, j)
	if !strings.Contains(j.Out, "before: TESTBED_GCC=12") || !strings.Contains(j.Out, "after: TESTBED_GCC=unset") {
		t.Errorf("want gcc/12 loaded before the purge and gone after it:\n%s", describe(j))
	}
}
