package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSpace: the headroom line, and the warning when space or inodes run
// short.
func TestSpace(t *testing.T) {
	const g = 1 << 30
	cases := []struct {
		name      string
		s         space
		want      string
		wantShort string
	}{
		{"roomy", space{Free: 400 * g, Total: 1000 * g, FreeInodes: 600, AllInodes: 1000},
			"400.0G free of 1000.0G (40%), 600 of 1000 inodes free (60%)", ""},
		{"no inode counts", space{Free: 1 * g, Total: 2 * g},
			"1.0G free of 2.0G (50%), inodes not counted by this filesystem", ""},
		{"space short", space{Free: 4 * g, Total: 100 * g, FreeInodes: 900, AllInodes: 1000},
			"4.0G free of 100.0G (4%), 900 of 1000 inodes free (90%)", "less than 5% of the space is free"},
		{"inodes short", space{Free: 90 * g, Total: 100 * g, FreeInodes: 10, AllInodes: 1000},
			"90.0G free of 100.0G (90%), 10 of 1000 inodes free (1%)", "less than 5% of the inodes are free"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			if got := tc.s.short(); got != tc.wantShort {
				t.Errorf("short() = %q, want %q", got, tc.wantShort)
			}
		})
	}
}

// TestDoctorSpace: senv doctor shows the free space and inodes of the
// filesystems of the cache and stage dirs, from a real statfs.
func TestDoctorSpace(t *testing.T) {
	hermetic(t)
	dir := t.TempDir()
	t.Setenv("SENV_CACHE_DIR", filepath.Join(dir, "cache"))
	t.Setenv("SENV_STAGE_DIR", filepath.Join(dir, "stage"))
	r := senv(t, "doctor")
	out := string(r.stdout)
	line := regexp.MustCompile(`(?m)^(ok|warn) +(cache|stage) space +[0-9.]+[BKMGTP] free of [0-9.]+[BKMGTP] \([0-9]+%\), ([0-9]+ of [0-9]+ inodes free \([0-9]+%\)|inodes not counted by this filesystem)`)
	if got := line.FindAllString(out, -1); len(got) != 2 {
		t.Errorf("doctor: want a space line for the cache and one for the stage, got %q in:\n%s", got, out)
	}
	if !strings.Contains(out, "ok    cache_dir      "+filepath.Join(dir, "cache")+" mode ") {
		t.Errorf("doctor: no cache_dir line:\n%s", out)
	}
}
