package slurm

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPrivateTmp(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		conf string
		want bool
	}{
		{"JobContainerType=job_container/tmpfs\n", true},
		{"ClusterName=x\n  jobcontainertype = job_container/tmpfs # per-job /tmp\n", true},
		{"#JobContainerType=job_container/tmpfs\nJobContainerType=job_container/none\n", false},
		{"ClusterName=x\n", false},
	} {
		conf := filepath.Join(dir, "slurm.conf")
		if err := os.WriteFile(conf, []byte(tc.conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := PrivateTmp(conf); got != tc.want {
			t.Errorf("PrivateTmp(%q) = %v, want %v", tc.conf, got, tc.want)
		}
	}
	if PrivateTmp(filepath.Join(dir, "missing")) {
		t.Errorf("a missing slurm.conf gives a private /tmp")
	}
	for dir, want := range map[string]bool{"/tmp": true, "/tmp/senv-1000": true, "/dev/shm/x": true, "/tmpx/senv": false, "/localscratch/u.5/senv": false} {
		if got := InPrivateTmp(dir); got != want {
			t.Errorf("InPrivateTmp(%s) = %v, want %v", dir, got, want)
		}
	}
}
