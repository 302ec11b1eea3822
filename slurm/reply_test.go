package slurm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/senv-hpc/senv/config"
)

// TestPrologReplyFakeHalf: what the job user's half answers root on
// ReplyFD is the user's to write (the half runs as them), so root reads at
// most maxReply bytes, stops reading soon after the half exits even when a
// process it left holds the pipe, and mounts nothing but a valid env ID's
// image from its own site tiers. The half is a fake (the real senv never
// misbehaves like this); scontrol is a fake (there is no slurmctld here).
func TestPrologReplyFakeHalf(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run the job user's half")
	}
	for _, tc := range []struct {
		name, half, want string
	}{
		{"a megabyte of junk, the pipe held open",
			"#!/bin/sh\nexec 2>/dev/null\nhead -c 1048576 /dev/zero | tr '\\0' a >&3 &\nsleep 1000 >&3 &\necho $! >>{PIDS}\nexit 0\n",
			"is not an env ID"},
		{"nothing, the pipe held open", "#!/bin/sh\nexec 2>/dev/null\nsleep 1000 >&3 &\necho $! >>{PIDS}\nexit 0\n", ""},
		{"a path for an ID", "#!/bin/sh\necho ../../etc >&3\n", "is not an env ID"},
		{"an ID no site cache of root's has", "#!/bin/sh\necho 0123456789abcdef >&3\n", "no site cache of root's has an image of env 0123456789abcdef"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.Chmod(filepath.Dir(dir), 0o755)
			os.Chmod(dir, 0o777)
			pids := filepath.Join(dir, "pids")
			half := filepath.Join(dir, "half")
			writeExec(t, half, strings.ReplaceAll(tc.half, "{PIDS}", pids))
			writeExec(t, filepath.Join(dir, "scontrol"), "#!/bin/sh\nif [ \"$1\" = write ]; then printf '#!/bin/sh\\n#ENV pip alpha\\n'; fi\nexit 0\n")
			t.Cleanup(func() { killAll(t, pids) })
			t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
			t.Setenv("SLURM_JOB_ID", "7")
			t.Setenv("SLURM_JOB_UID", "65534")
			t.Setenv("SLURM_JOB_GID", "65534")
			site := filepath.Join(dir, "site")
			mountDir := filepath.Join(dir, "mnt")
			var out bytes.Buffer
			h := Hook{
				Config: func() (*config.Config, error) {
					return &config.Config{PrologTimeout: 30 * time.Second, MountDir: mountDir, SiteCache: []string{site}}, nil
				},
				Self:   half,
				Output: &out,
				Logf: func(format string, args ...any) {
					out.WriteString(strings.TrimSpace(fmt.Sprintf(format, args...)) + "\n")
				},
			}
			start := time.Now()
			if err := h.Prolog(context.Background()); err != nil {
				t.Fatalf("prolog: %v\n%s", err, out.String())
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("prolog took %s, want it to stop reading the answer about a second after the half exits", took.Round(time.Millisecond))
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("prolog output lacks %q:\n%.2000s", tc.want, out.String())
			}
			if ents, _ := os.ReadDir(mountDir); len(ents) > 1 { // .senv at most
				t.Errorf("the mount dir holds %d entries after a refused answer", len(ents))
			}
		})
	}
}
