//go:build e2e

package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGCMaxSizeKeepsLeasedEnv: three envs are built on the submit host, old, mid and new by
// their last-used stamps; in a job on a real node a payload runs from the oldest, and `senv gc
// --max-size` there, with a cap that removing mid meets, removes mid only: old, although the
// least recently used, is leased (and recorded by the running job) and survives, and new is
// not needed (issue 12 item 7). (Envs this job itself ran would all count as in use while it
// runs: that is the job lease.)
func TestGCMaxSizeKeepsLeasedEnv(t *testing.T) {
	c := Require(t)
	f := newFixture(t, c)
	for _, env := range [][]string{{"--pip", "gamma", "--name", "old"}, {"--pip", "beta==1.0", "--name", "mid"}, {"--pip", "beta==1.2", "--name", "new"}} {
		args := append(append([]string{"run"}, env...), "--find-links", f.Wheels, "--no-index", "--", "true")
		if _, stderr, exit := f.senv(t, args...); exit != 0 {
			t.Fatalf("senv %s: exit %d\n%s", strings.Join(args, " "), exit, stderr)
		}
	}
	script := f.write(t, "quota.sh", `#!/bin/bash
set -eu
w="--find-links {WHEELS} --no-index"
id() { senv ls --json | python3 -c 'import json, sys; print([e["id"] for e in json.load(sys.stdin) if e.get("name") == sys.argv[1]][0])' "$1"; }
OLD=$(id old) MID=$(id mid) NEW=$(id new)
echo "ids: old=$OLD mid=$MID new=$NEW"
# a payload runs from old, holding its lease, until told to stop
senv run --pip gamma $w --name old -- sh -c 'touch held; while [ ! -e release ]; do sleep 0.1; done' &
holder=$!
for i in $(seq 600); do [ -e held ] && break; sleep 0.1; done
# the stamps are set after that run, which refreshed old's
touch -d '3 days ago' "{CACHE}/v1/envs/$OLD/last-used"
touch -d '2 days ago' "{CACHE}/v1/envs/$MID/last-used"
cap=$(python3 - "$MID" <<'PY'
import json, subprocess, sys
rows = json.loads(subprocess.check_output(["senv", "ls", "--json"]))
totals = json.loads(subprocess.check_output(["senv", "ls", "--totals", "--json"]))
cache = [t for t in totals if t["kind"] == "cache"][0]["bytes"]
mid = [r for r in rows if r["id"] == sys.argv[1]][0]["disk"]["bytes"]
print(cache - mid)
PY
)
senv gc --max-size "$cap" 2>&1
touch release
wait $holder
echo "left: $(senv ls --json | python3 -c 'import json, sys; print(" ".join(sorted(e.get("name", "") for e in json.load(sys.stdin))))')"
`)
	out := filepath.Join(f.Dir, "quota.out")
	id := c.Submit(t, f.Env(), "-D", f.Dir, "-o", out, script)
	j := f.finish(t, id, out, jobTimeout)
	mustComplete(t, j)
	m := regexp.MustCompile(`ids: old=([0-9a-f]{16}) mid=([0-9a-f]{16}) new=([0-9a-f]{16})`).FindStringSubmatch(j.Out)
	if m == nil {
		t.Fatalf("no env IDs in the job's output:\n%s", describe(j))
	}
	old, mid, newer := m[1], m[2], m[3]
	for _, want := range []string{"removed cache entry " + mid, "kept env " + old, "1 env(s) removed, 1 kept in use", "left: new old"} {
		if !strings.Contains(j.Out, want) {
			t.Errorf("job output lacks %q:\n%s", want, describe(j))
		}
	}
	for _, gone := range []string{"removed cache entry " + old, "removed cache entry " + newer} {
		if strings.Contains(j.Out, gone) {
			t.Errorf("gc went too far (%q):\n%s", gone, describe(j))
		}
	}
}
