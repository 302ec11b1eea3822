package envs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// publishTest publishes tree(t) as entry 0123456789abcdef of a new cache.
func publishTest(t *testing.T, trust *Trust) (Cache, string) {
	t.Helper()
	c, err := OpenCache(t.TempDir(), trust)
	if err != nil {
		t.Fatal(err)
	}
	id := "0123456789abcdef"
	if _, err := c.Publish(&Meta{ID: id, Manager: "venv"}, testLock(), tree(t)); err != nil {
		t.Fatal(err)
	}
	return c, id
}

// TestDamagedEntry: a damaged manifest.gob falls back to manifest.json with
// a warning; with both manifests or meta.json damaged, staging refuses the
// entry with the `senv rm` hint, and List still shows it, as damaged, so
// that ls and gc can see and remove it.
func TestDamagedEntry(t *testing.T) {
	cases := []struct {
		name       string
		damage     []string // files truncated to half
		wantStaged bool
		wantWarn   bool
		wantListed bool // listed as damaged
	}{
		{"manifest.gob truncated", []string{indexName}, true, true, false},
		{"both manifests truncated", []string{indexName, manifestName}, false, false, false},
		{"meta.json truncated", []string{metaName}, false, false, true},
		{"meta.json empty", []string{metaName + ":empty"}, false, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, id := publishTest(t, nil)
			for _, d := range tc.damage {
				name, how, _ := strings.Cut(d, ":")
				p := filepath.Join(c.Entry(id), name)
				info, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				size := info.Size() / 2
				if how == "empty" {
					size = 0
				}
				os.Truncate(p, size)
			}
			s, err := OpenStage(filepath.Join(t.TempDir(), "stage"), nil)
			if err != nil {
				t.Fatal(err)
			}
			var warned []string
			_, err = s.FromCache(c, id, nil, func(msg string) { warned = append(warned, msg) })
			if tc.wantStaged != (err == nil) {
				t.Errorf("staged = %v (%v), want %v", err == nil, err, tc.wantStaged)
			}
			if err != nil && !strings.Contains(err.Error(), "remove it with `senv rm "+id+"`") {
				t.Errorf("refusal without the senv rm hint: %v", err)
			}
			if !tc.wantStaged && s.Ready(id) {
				t.Error("a refused entry is marked staged")
			}
			if tc.wantWarn != (len(warned) == 1) || (tc.wantWarn && !strings.Contains(warned[0], "using manifest.json")) {
				t.Errorf("warnings %q, want one: %v", warned, tc.wantWarn)
			}
			metas, err := c.List()
			if err != nil || len(metas) != 1 {
				t.Fatalf("List: %d entries, %v; want the entry, damaged or not", len(metas), err)
			}
			if (metas[0].Damaged != "") != tc.wantListed || metas[0].ID != id {
				t.Errorf("listed %+v, damaged = %v want %v", metas[0], metas[0].Damaged != "", tc.wantListed)
			}
			if tc.wantListed {
				if err := c.Remove(id); err != nil {
					t.Errorf("a damaged entry must be removable: %v", err)
				}
			}
		})
	}
}

// TestMetaNamesItsEntry: a meta.json copied from another entry is damage.
func TestMetaNamesItsEntry(t *testing.T) {
	c, id := publishTest(t, nil)
	p := filepath.Join(c.Entry(id), metaName)
	data, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(data), id, "fedcba9876543210", 1)), 0o644)
	if _, err := c.Meta(id); !errors.Is(err, ErrDamagedEntry) {
		t.Errorf("Meta of an entry whose meta.json names another: %v", err)
	}
}
