package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/config"
)

// TestSiteExamples: every config under examples/site loads (no unknown key,
// no bad value), and {user}/{uid} in its dirs become the user's.
func TestSiteExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "site", "*.toml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("examples/site: %v, %v; want the three site examples", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			home := t.TempDir()
			env := map[string]string{"SENV_CONFIG": f, "HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, "config"), "USER": "alice"}
			cfg, err := config.Load(func(k string) string { return env[k] }, nil)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(cfg.CacheDir+cfg.StageDir, "{") {
				t.Errorf("cache_dir %q, stage_dir %q: placeholders left", cfg.CacheDir, cfg.StageDir)
			}
			if cfg.Source["cache_dir"] == "default" {
				t.Errorf("cache_dir comes from %s, want the example", cfg.Source["cache_dir"])
			}
		})
	}
}
