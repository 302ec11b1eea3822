package wrapper

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/solver"
)

// OpenSites opens the site tiers of cfg (site_cache), in order. A site dir
// that is also cfg's cache_dir is left out: that is the admin publishing
// into it, whose own cache it is. A site dir that does not exist on this
// node is skipped, with a line to logf (nil: silently); one that is not
// trusted, or not readable, is an error.
func OpenSites(cfg *config.Config, trust *envs.Trust, logf func(string, ...any)) ([]envs.Cache, error) {
	own, _ := filepath.Abs(cfg.CacheDir)
	var sites []envs.Cache
	for _, dir := range cfg.SiteCache {
		if filepath.Clean(dir) == own {
			continue
		}
		c, err := envs.OpenSiteCache(dir, trust)
		if errors.Is(err, fs.ErrNotExist) {
			if logf != nil {
				logf("warning: site cache %s does not exist on this node; looking only in %s", dir, cfg.CacheDir)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		sites = append(sites, c)
	}
	return sites, nil
}

// recordedLock returns the lock recorded for a spec key: the user's
// cache's, else the first site tier's that has one, else nil. The user's
// own comes first so that a spec's jobs keep installing what they did
// when a site cache starts to offer it.
func recordedLock(store *envs.Store, key string) (*solver.Lock, error) {
	if l, err := store.Cache.ReadLock(key); err != nil || l != nil {
		return l, err
	}
	for _, site := range store.Sites {
		if l, err := site.ReadLock(key); err != nil || l != nil {
			return l, err
		}
	}
	return nil, nil
}
