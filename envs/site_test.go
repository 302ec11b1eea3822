package envs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/senv-hpc/senv/internal/treesnap"

	"golang.org/x/sys/unix"
)

// siteWithEntry publishes relocTree's env, built under a long stage dir,
// into a new cache dir, as an admin would, and returns the dir and the ID.
func siteWithEntry(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	admin, err := OpenCache(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := relocTree(t, filepath.Join(t.TempDir(), "a-long-padded-admin-stage-dir"))
	id := filepath.Base(src)
	if _, err := admin.Publish(&Meta{ID: id, Manager: "venv", Kind: "venv", Prefix: src}, testLock(), src); err != nil {
		t.Fatal(err)
	}
	if err := admin.PublishLock(testLock(), false); err != nil {
		t.Fatal(err)
	}
	return dir, id
}

// TestSiteTier: an env in a site tier is staged from it, relocated into
// the user's own stage dir, and nothing is written to the site dir (no
// last-used stamp, no lock, no temp file) or published into the user's
// cache, also when the store publishes (senv build) or finds it staged.
func TestSiteTier(t *testing.T) {
	siteDir, id := siteWithEntry(t)
	site, err := OpenSiteCache(siteDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	own, err := OpenCache(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	stage, err := OpenStage(filepath.Join(t.TempDir(), "s"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	store := &Store{Cache: own, Sites: []Cache{site}, Stage: stage, Timeout: time.Minute, Publish: true,
		Logf: func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) }}
	before := treesnap.Take(t, siteDir)

	want := []Outcome{SiteHit, Staged}
	for i, w := range want {
		prefix, outcome, err := store.Ensure(context.Background(), Job{ID: id, Lock: testLock()})
		if err != nil || outcome != w {
			t.Fatalf("ensure %d: %s, %v; want %s", i+1, outcome, err, w)
		}
		data, err := os.ReadFile(filepath.Join(prefix, "bin", "tool"))
		if err != nil || !strings.HasPrefix(string(data), "#!"+prefix+"/bin/python\n") {
			t.Errorf("ensure %d: bin/tool not relocated to %s: %q %v", i+1, prefix, data, err)
		}
	}
	if after := treesnap.Take(t, siteDir); after != before {
		t.Errorf("the site dir changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	if own.Has(id) {
		t.Errorf("the env was published into the user's cache too")
	}
	if !strings.Contains(strings.Join(log, "\n"), "site cache hit, staged 5 files") ||
		!strings.Contains(strings.Join(log, "\n"), "from site "+siteDir) {
		t.Errorf("log does not name the site tier:\n%s", strings.Join(log, "\n"))
	}
	if l, err := site.ReadLock("k"); err != nil || l == nil {
		t.Errorf("site lock: %v %v", l, err)
	}
}

// TestSiteCacheNeverWritten: every write to a site tier is refused with
// ErrReadOnly, before it touches the filesystem.
func TestSiteCacheNeverWritten(t *testing.T) {
	siteDir, id := siteWithEntry(t)
	site, err := OpenSiteCache(siteDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := treesnap.Take(t, siteDir)
	cases := []struct {
		name string
		op   func() error
	}{
		{"publish lock", func() error { return site.PublishLock(testLock(), false) }},
		{"build lock", func() error { _, err := site.BuildLock(id, 0, nil); return err }},
		{"solve lock", func() error { _, err := site.SolveLock("k", 0, nil); return err }},
		{"remove", func() error { return site.Remove(id) }},
		{"publish", func() error { _, err := site.Publish(&Meta{ID: id}, testLock(), t.TempDir()); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), siteDir) {
				t.Errorf("err = %v, want ErrReadOnly naming %s", err, siteDir)
			}
		})
	}
	site.Touch(id)
	site.CleanTemp(id)
	if after := treesnap.Take(t, siteDir); after != before {
		t.Errorf("the site dir changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// TestOpenSiteCache: a site dir is opened without creating anything in it,
// and refused when someone untrusted owns it or anyone can write to it.
func TestOpenSiteCache(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		trusted []string
		want    string // "": opens
		wantErr error
	}{
		{name: "empty dir of root or yours"},
		{name: "missing", setup: func(t *testing.T, dir string) { os.Remove(dir) }, want: "no such file", wantErr: fs.ErrNotExist},
		{name: "world-writable", setup: func(t *testing.T, dir string) { os.Chmod(dir, 0o777) }, want: "anyone can write to it", wantErr: ErrUntrusted},
		{name: "owned by another user", setup: chownDir(other), want: "whom you do not trust", wantErr: ErrUntrusted},
		{name: "owned by a trusted user", setup: chownDir(other), trusted: []string{"65534"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "site")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			trust, err := NewTrust(tc.trusted)
			if err != nil {
				t.Fatal(err)
			}
			_, err = OpenSiteCache(dir, trust)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.wantErr)):
				t.Fatalf("err = %v, want %q (%v)", err, tc.want, tc.wantErr)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("OpenSiteCache created %v", ents)
			}
		})
	}
}

func chownDir(uid int) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		if os.Getuid() != 0 {
			t.Skip("needs root to chown")
		}
		if err := os.Chown(dir, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSiteEntryNotRelocatable: a site entry whose binaries embed a prefix
// shorter than the user's stage dir is passed over with a warning naming
// why and the fix, and the env is built into the user's own cache, which
// later jobs stage from; the site dir stays as it was.
func TestSiteEntryNotRelocatable(t *testing.T) {
	siteDir, id := siteWithEntry(t)
	site, err := OpenSiteCache(siteDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	own, err := OpenCache(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	stage, err := OpenStage(filepath.Join(t.TempDir(), strings.Repeat("long", 20)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	store := &Store{Cache: own, Sites: []Cache{site}, Stage: stage, Timeout: time.Minute,
		Logf: func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) }}
	before := treesnap.Take(t, siteDir)
	job := Job{ID: id, Lock: testLock(), Backend: slowBackend{}, Meta: Meta{ID: id, Manager: "venv", Kind: "venv"}}
	for i, want := range []Outcome{Built, CacheHit} {
		log = nil
		if _, outcome, err := store.Ensure(context.Background(), job); err != nil || outcome != want {
			t.Fatalf("ensure %d: %s, %v; want %s", i+1, outcome, err, want)
		}
		all := strings.Join(log, "\n")
		for _, w := range []string{"warning: not using the site cache " + siteDir + "'s entry", "lib/libx.so", "hint: use a stage_dir of at most"} {
			if !strings.Contains(all, w) {
				t.Errorf("ensure %d: log lacks %q:\n%s", i+1, w, all)
			}
		}
		if _, err := store.Stage.RemoveUnused(id, nil); err != nil {
			t.Fatal(err)
		}
	}
	if !own.Has(id) {
		t.Error("the env was not published into the user's cache")
	}
	if after := treesnap.Take(t, siteDir); after != before {
		t.Errorf("the site dir changed")
	}
}

// TestPublishReadableWhateverUmask: an admin whose umask is 077 still
// publishes a site cache every user can read: the layout dirs get the
// cache dir's read bits, entries and locks are 0644 and 0755.
func TestPublishReadableWhateverUmask(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "site")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := unix.Umask(0o077)
	func() {
		defer unix.Umask(old)
		c, err := OpenCache(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(&Meta{ID: "0123456789abcdef", Manager: "venv"}, testLock(), tree(t)); err != nil {
			t.Fatal(err)
		}
		if err := c.PublishLock(testLock(), false); err != nil {
			t.Fatal(err)
		}
	}()
	err := filepath.WalkDir(filepath.Join(dir, cacheVersion), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o044)
		if d.IsDir() {
			want = 0o055
		}
		if info.Mode().Perm()&want != want {
			t.Errorf("%s: mode %v, others cannot read it", p, info.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
