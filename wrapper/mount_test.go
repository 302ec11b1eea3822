package wrapper

import (
	"testing"

	"github.com/senv-hpc/senv/config"
)

// TestWantsImage: `senv build` makes an image when forced, or when it
// publishes an env of at least image_min_size into a site cache, and
// never without a mount_dir.
func TestWantsImage(t *testing.T) {
	site := &config.Config{CacheDir: "/sw/senv", SiteCache: []string{"/sw/senv"}, MountDir: "/run/senv", ImageMinSize: 1 << 30}
	own := &config.Config{CacheDir: "/home/u/.cache/senv", SiteCache: []string{"/sw/senv"}, MountDir: "/run/senv", ImageMinSize: 1 << 30}
	off := &config.Config{CacheDir: "/sw/senv", SiteCache: []string{"/sw/senv"}, MountDir: "/run/senv"}
	noMounts := &config.Config{CacheDir: "/sw/senv", SiteCache: []string{"/sw/senv"}, ImageMinSize: 1 << 30}
	for _, tc := range []struct {
		name  string
		cfg   *config.Config
		force bool
		bytes int64
		want  bool
	}{
		{"big env into a site cache", site, false, 5 << 30, true},
		{"small env into a site cache", site, false, 100 << 20, false},
		{"forced, small", site, true, 1, true},
		{"big env into the user's own cache", own, false, 5 << 30, false},
		{"image_min_size 0", off, false, 5 << 30, false},
		{"no mount_dir", noMounts, false, 5 << 30, false},
	} {
		if got := WantsImage(tc.cfg, tc.force, tc.bytes); got != tc.want {
			t.Errorf("%s: WantsImage = %v, want %v", tc.name, got, tc.want)
		}
	}
}
