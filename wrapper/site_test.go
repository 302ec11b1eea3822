package wrapper

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/internal/treesnap"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/internal/wheelhouse"
	"github.com/senv-hpc/senv/jobspec"
)

// TestSiteCache: what an admin built into a site cache (with the site cache
// also in the admin's own site_cache, as /etc/senv/config.toml gives it) a
// user's job finds there: the lock (no solve) and the env (no build),
// staged relocated into the user's own, shorter stage dir, where its
// console script runs; the user's cache gets no lock and no env, and the
// site dir is not changed.
func TestSiteCache(t *testing.T) {
	wh, err := wheelhouse.BuildAll(t.TempDir(), wheelhouse.Standard)
	if err != nil {
		t.Fatal(err)
	}
	env := func() *jobspec.Env {
		return &jobspec.Env{Pip: []string{"alpha"}, FindLinks: []string{wh}, NoIndex: true}
	}
	admin := options(t)
	site := admin.Config.CacheDir
	admin.Config.SiteCache = []string{site}
	admin.Config.StageDir = filepath.Join(t.TempDir(), "a-padded-admin-stage-dir-padding")
	admin.Publish = true
	built, err := Prepare(context.Background(), env(), admin)
	if err != nil {
		t.Fatal(err)
	}
	if built.Outcome != envs.Built {
		t.Fatalf("admin: %s, want built", built.Outcome)
	}
	before := treesnap.Take(t, site)

	user := options(t)
	user.Config.SiteCache = []string{"/nonexistent/site", site} // a node without the mount skips it
	short, err := os.MkdirTemp("", "u")
	if err != nil {
		t.Fatal(err)
	}
	user.Config.StageDir = filepath.Join(short, "s")
	t.Cleanup(func() { envs.Stage{Dir: user.Config.StageDir}.Reset(built.ID); os.RemoveAll(short) })
	var log []string
	user.Logf = func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) }
	p, err := Prepare(context.Background(), env(), user)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(log, "\n")
	if p.ID != built.ID || p.Outcome != envs.SiteHit {
		t.Fatalf("user: env %s %s, want %s site cache hit\n%s", p.ID, p.Outcome, built.ID, all)
	}
	if strings.Contains(all, "solved spec") || !strings.Contains(all, "site cache /nonexistent/site does not exist") ||
		!strings.Contains(all, "from site "+site) || !strings.Contains(all, "relocated from "+built.Prefix) {
		t.Errorf("log:\n%s", all)
	}
	if p.Prefix != filepath.Join(user.Config.StageDir, p.ID) {
		t.Errorf("staged at %s, want the user's stage dir", p.Prefix)
	}
	var f fakeExec
	if err := p.Run(&f, []string{"alpha-hello"}); err != nil {
		t.Fatal(err)
	}
	if got := runActivation(t, f.argv); got != "hello from alpha 1.0\n" {
		t.Errorf("console script printed %q", got)
	}
	for _, sub := range []string{"envs", "locks"} {
		if ents, _ := os.ReadDir(filepath.Join(user.Config.CacheDir, "v1", sub)); len(ents) != 0 {
			t.Errorf("the user's cache %s/ holds %v", sub, ents)
		}
	}
	if after := treesnap.Take(t, site); after != before {
		t.Errorf("the site cache changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

func TestSiteCacheConfig(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  []string
		err   string
	}{
		{value: "/sw/senv", want: []string{"/sw/senv"}},
		{value: "/sw/senv,/proj/lab/senv", want: []string{"/sw/senv", "/proj/lab/senv"}},
		{value: "sw/senv", err: `"sw/senv" is not an absolute path`},
	} {
		t.Run(tc.value, func(t *testing.T) {
			cfg, err := config.Load(func(k string) string {
				if k == "SENV_SITE_CACHE" {
					return tc.value
				}
				return ""
			}, nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || strings.Join(cfg.SiteCache, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("site_cache = %v, %v; want %v", cfg.SiteCache, err, tc.want)
			}
		})
	}
}
