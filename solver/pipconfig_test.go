package solver

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/internal/wheelhouse"
	"github.com/senv-hpc/senv/jobspec"
)

func TestParsePipConfig(t *testing.T) {
	out := "global.find-links='/site/wheels'\nglobal.index-url='https://mirror/simple'\n:env:.index-url='https://env/simple'\nuser.only-binary=':all:'\nnot a line\n"
	want := map[string]string{"find-links": "/site/wheels", "index-url": "https://env/simple", "only-binary": ":all:"}
	if got := parsePipConfig(out); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestUVFromPipConfig(t *testing.T) {
	wh := t.TempDir()
	l := &Lock{IndexURL: "https://from-env-key/simple"}
	args, env, err := uvFromPipConfig(l, map[string]string{
		"index-url": "https://pip/simple", "extra-index-url": "https://a/simple https://b/simple", "find-links": wh + " /no/such/dir",
		"no-index": "true", "constraint": "/site/constraints.txt", "only-binary": ":all:", "pre": "1", "trusted-host": "h1",
		"cert": "/etc/ca.pem", "disable-pip-version-check": "1", "config-file": "/site/pip.conf",
	})
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := []string{"--constraint", "/site/constraints.txt", "--only-binary", ":all:", "--prerelease", "allow", "--trusted-host", "h1"}
	if !reflect.DeepEqual(args, wantArgs) || !reflect.DeepEqual(env, []string{"SSL_CERT_FILE=/etc/ca.pem"}) {
		t.Errorf("args %q env %q, want %q", args, env, wantArgs)
	}
	if l.IndexURL != "https://from-env-key/simple" || !reflect.DeepEqual(l.FindLinks, []string{wh}) || !l.NoIndex ||
		!reflect.DeepEqual(l.ExtraIndexURLs, []string{"https://a/simple", "https://b/simple"}) {
		t.Errorf("sources recorded in the lock: %+v", l)
	}
	for _, k := range []string{"prefer-binary", "use-feature", "upgrade-strategy"} {
		if _, _, err := uvFromPipConfig(&Lock{}, map[string]string{k: "1"}); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s: %v, want an error naming it", k, err)
		}
	}
}

// TestSitePipConfigFromModule: a site module that sets PIP_CONFIG_FILE to a
// pip.conf with a wheelhouse as find-links, no-index and a constraint is
// honoured with the module loaded, by pip (manager venv) and by uv, which
// does not read pip's configuration (senv passes it on); both lock the same
// versions, and the lock records the wheelhouse as a source.
func TestSitePipConfigFromModule(t *testing.T) {
	const lmodInit = "/usr/share/lmod/lmod/init/sh"
	if _, err := os.Stat(lmodInit); err != nil {
		t.Fatalf("Lmod is needed (%s)", lmodInit)
	}
	site := t.TempDir()
	wh, err := wheelhouse.BuildAll(filepath.Join(site, "wheels"), wheelhouse.Standard)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(site, "constraints.txt"), []byte("beta<1.2\n"), 0o644)
	os.WriteFile(filepath.Join(site, "pip.conf"), []byte("[global]\nfind-links = "+wh+"\nno-index = true\nconstraint = "+filepath.Join(site, "constraints.txt")+"\n"), 0o644)
	mods := filepath.Join(site, "modules")
	os.MkdirAll(filepath.Join(mods, "sitepip"), 0o755)
	os.WriteFile(filepath.Join(mods, "sitepip", "1.0.lua"), []byte(`setenv("PIP_CONFIG_FILE", "`+filepath.Join(site, "pip.conf")+`")`+"\n"), 0o644)
	t.Setenv("MODULEPATH", mods)
	t.Setenv("HOME", t.TempDir())
	os.Unsetenv("PIP_CONFIG_FILE") // TestMain's /dev/null; the module sets it
	defer os.Setenv("PIP_CONFIG_FILE", os.DevNull)
	cfg, err := config.Load(func(string) string { return "" }, map[string]string{
		"cache_dir": t.TempDir(), "stage_dir": t.TempDir(), "python": "/usr/bin/python3", "module_init": lmodInit})
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, m := range []string{"venv", "uv"} {
		spec, err := Canonicalize(&jobspec.Env{Manager: m, Modules: []string{"sitepip/1.0"}, Pip: []string{"alpha"}}, t.TempDir(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		l, err := Solve(context.Background(), spec, cfg, t.TempDir())
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		got = append(got, pins(l))
		if m == "uv" && !reflect.DeepEqual(l.FindLinks, []string{wh}) {
			t.Errorf("uv lock sources: find_links %q, want the site wheelhouse", l.FindLinks)
		}
	}
	want := []string{"alpha==1.0", "beta==1.0"} // the constraint holds beta below 1.2
	if !reflect.DeepEqual(got[0], want) || !reflect.DeepEqual(got[1], want) {
		t.Errorf("pip locked %q, uv %q, want %q for both", got[0], got[1], want)
	}
}
