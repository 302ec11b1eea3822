package slurm

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// JobScript fetches a job's batch script with scontrol (one RPC).
func JobScript(ctx context.Context, jobID string) ([]byte, error) {
	script, err := scontrol(ctx, "write", "batch_script", jobID, "-")
	if err != nil {
		return nil, fmt.Errorf("failed to read the batch script of job %s: %w", jobID, err)
	}
	return script, nil
}

// scontrol runs scontrol with args and returns its stdout. At ctx's
// deadline it kills scontrol and whatever it started (see runBounded).
func scontrol(ctx context.Context, args ...string) ([]byte, error) {
	var out bytes.Buffer
	cmd := exec.Command("scontrol", args...)
	cmd.Stdout = &out
	if err := runBounded(ctx, cmd); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// JobCommand returns the path a job was submitted from (Command=), or ""
// for --wrap and stdin jobs. It reads the multi-line form of `scontrol show
// job`, where Command= has a line of its own (paths may hold spaces) and
// comes before any user-set text such as Comment=.
func JobCommand(ctx context.Context, jobID string) string {
	out, err := scontrol(ctx, "show", "job", jobID)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimLeft(line, " "), "Command="); ok {
			if filepath.IsAbs(v) {
				return v
			}
			return ""
		}
	}
	return ""
}
