//go:build e2e

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestGCKeepsEnvOfRunningJob: a payload's detached child (close_fds, a new session) outlives
// the payload and so holds no lease; while its job runs, `senv gc` on the node must keep the
// env under it (issue 11 item 7). The job: `senv run` starts the child and exits, gc runs,
// then the child imports from the env.
func TestGCKeepsEnvOfRunningJob(t *testing.T) {
	c := Require(t)
	f := newFixture(t, c)
	script := f.write(t, "detach.sh", `#!/bin/bash
set -u
senv run --pip alpha --find-links {WHEELS} --no-index -- python -c '
import subprocess, sys
child = "import time; time.sleep(3)\ntry:\n import alpha; print(\"child imported alpha\")\nexcept Exception as e: print(\"child failed:\", e)"
subprocess.Popen([sys.executable, "-c", child], close_fds=True, start_new_session=True,
                 stdout=open("child.out", "w"), stderr=subprocess.STDOUT)
'
senv gc --older-than 0
for i in $(seq 200); do grep -q child child.out 2>/dev/null && break; sleep 0.1; done
echo "gc done; child says: $(cat child.out)"
`)
	out := filepath.Join(f.Dir, "detach.out")
	id := c.Submit(t, f.Env(), "-D", f.Dir, "-o", out, script)
	j := f.finish(t, id, out, jobTimeout)
	mustComplete(t, j)
	if !strings.Contains(j.Out, "child says: child imported alpha") {
		t.Errorf("the detached child lost its env to gc:\n%s", describe(j))
	}
	if strings.Contains(j.Out, "removed staged env") {
		t.Errorf("gc removed the env of a running job:\n%s", describe(j))
	}
}
