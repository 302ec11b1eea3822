package envs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestFitQuota: least recently used first, until the usage fits; an env
// that remove reports in use is kept and the next one goes instead; a cap
// that only in-use envs could meet is left unmet.
func TestFitQuota(t *testing.T) {
	day := func(n int) time.Time { return time.Date(2026, 11, n, 0, 0, 0, 0, time.UTC) }
	envs := []QuotaEnv{ // not in LRU order on purpose
		{ID: "c", LastUsed: day(3), Usage: Usage{300, 3}},
		{ID: "a", LastUsed: day(1), Usage: Usage{100, 1}},
		{ID: "d", LastUsed: day(4), Usage: Usage{400, 4}},
		{ID: "b", LastUsed: day(2), Usage: Usage{200, 2}},
	}
	total := Usage{1000 + 50, 10 + 5} // the envs and some locks
	cases := []struct {
		name        string
		quota       Quota
		inUse       map[string]bool
		wantRemoved []string
		wantInUse   []string
		wantFits    bool
	}{
		{name: "fits already", quota: Quota{Bytes: 2000}, wantFits: true},
		{name: "oldest first", quota: Quota{Bytes: 800}, wantRemoved: []string{"a", "b"}, wantFits: true},
		{name: "oldest in use survives", quota: Quota{Bytes: 800}, inUse: map[string]bool{"a": true},
			wantRemoved: []string{"b", "c"}, wantInUse: []string{"a"}, wantFits: true},
		{name: "inodes cap", quota: Quota{Inodes: 9}, wantRemoved: []string{"a", "b", "c"}, wantFits: true},
		{name: "both caps", quota: Quota{Bytes: 900, Inodes: 13}, wantRemoved: []string{"a", "b"}, wantFits: true},
		{name: "cannot fit", quota: Quota{Bytes: 100}, inUse: map[string]bool{"d": true},
			wantRemoved: []string{"a", "b", "c"}, wantInUse: []string{"d"}, wantFits: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := FitQuota(total, envs, tc.quota, func(e QuotaEnv) (bool, error) { return !tc.inUse[e.ID], nil })
			if err != nil {
				t.Fatal(err)
			}
			ids := func(es []QuotaEnv) []string {
				var out []string
				for _, e := range es {
					out = append(out, e.ID)
				}
				return out
			}
			if got := ids(r.Removed); !reflect.DeepEqual(got, tc.wantRemoved) {
				t.Errorf("removed %v, want %v", got, tc.wantRemoved)
			}
			if got := ids(r.InUse); !reflect.DeepEqual(got, tc.wantInUse) {
				t.Errorf("kept in use %v, want %v", got, tc.wantInUse)
			}
			if tc.quota.Fits(r.After) != tc.wantFits {
				t.Errorf("after %+v: fits %v, want %v", r.After, !tc.wantFits, tc.wantFits)
			}
			if r.Before != total {
				t.Errorf("before %+v, want %+v", r.Before, total)
			}
		})
	}
	t.Run("error stops", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := FitQuota(total, envs, Quota{Bytes: 1}, func(QuotaEnv) (bool, error) { return false, boom })
		if !errors.Is(err, boom) {
			t.Errorf("err = %v, want boom", err)
		}
	})
}

// TestDiskUsage: allocated blocks and inodes, a hard-linked file once, a
// symlink as itself (not its target), a missing root as nothing.
func TestDiskUsage(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(outside, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i*7 + 1) // not sparse
	}
	if err := os.WriteFile(filepath.Join(root, "d", "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "d", "f"), filepath.Join(root, "hard")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	u, err := DiskUsage(root)
	if err != nil {
		t.Fatal(err)
	}
	// root, d, d/f (= hard), link
	if u.Inodes != 4 {
		t.Errorf("inodes = %d, want 4", u.Inodes)
	}
	if u.Bytes < int64(len(data)) || u.Bytes >= 2*int64(len(data)) {
		t.Errorf("bytes = %d, want the 64 KiB file once (and a few blocks of dirs), not twice, not the 1 MiB target", u.Bytes)
	}
	if u, err := DiskUsage(filepath.Join(root, "missing")); err != nil || u != (Usage{}) {
		t.Errorf("missing root: %+v, %v; want zero, nil", u, err)
	}
}

// TestCacheRemoveUnused_FakeSlurm: a cache entry whose env a process on
// this node leases stays, and so does one a running job recorded (Slurm
// faked: no controller here); once both are gone it is removed, and the staged copy
// is left alone. An env this node never staged is removed without leaving
// lock files behind.
func TestCacheRemoveUnused_FakeSlurm(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(filepath.Join(dir, "cache"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenStage(filepath.Join(dir, "stage"), nil)
	if err != nil {
		t.Fatal(err)
	}
	env := filepath.Join(dir, "env")
	writeEnv(t, env, victimPython)
	for _, id := range []string{"0123456789abcdef", "fedcba9876543210"} {
		if _, err := c.Publish(&Meta{ID: id, Manager: "venv"}, testLock(), env); err != nil {
			t.Fatal(err)
		}
	}
	id, other := "0123456789abcdef", "fedcba9876543210"
	if _, err := s.FromCache(c, id, nil, nil); err != nil {
		t.Fatal(err)
	}
	lease, err := s.Lease(id)
	if err != nil {
		t.Fatal(err)
	}
	if removed, err := c.RemoveUnused(id, s, fakeJobs{}); err != nil || removed {
		t.Fatalf("leased: removed %v, %v; want kept", removed, err)
	}
	if !c.Has(id) || !s.InUse(id, fakeJobs{}) {
		t.Fatalf("leased env: in cache %v, in use %v; want both", c.Has(id), s.InUse(id, fakeJobs{}))
	}
	lease.Close()
	inJob := s
	inJob.Job = "4242"
	jobLease, err := inJob.Lease(id)
	if err != nil {
		t.Fatal(err)
	}
	jobLease.Close() // a detached child of job 4242 holds no descriptor
	if removed, err := c.RemoveUnused(id, s, fakeJobs{"4242": true}); err != nil || removed {
		t.Fatalf("job 4242 still runs: removed %v, %v; want kept", removed, err)
	}
	if removed, err := c.RemoveUnused(id, s, fakeJobs{}); err != nil || !removed {
		t.Fatalf("unleased: removed %v, %v; want removed", removed, err)
	}
	if c.Has(id) || !s.Ready(id) {
		t.Errorf("after removal: in cache %v, staged %v; want only the staged copy", c.Has(id), s.Ready(id))
	}
	if removed, err := c.RemoveUnused(other, s, nil); err != nil || !removed {
		t.Fatalf("never staged: removed %v, %v; want removed", removed, err)
	}
	if m, _ := filepath.Glob(filepath.Join(s.Dir, ".senv", other+".*")); len(m) > 0 {
		t.Errorf("left in the stage for an env it never had: %v", m)
	}
}
