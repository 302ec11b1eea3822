package envs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrReadOnly is what a write to a read-only (site) cache tier returns:
// senv never writes to one. Test for it with errors.Is.
var ErrReadOnly = errors.New("the site cache is read-only to senv")

// OpenSiteCache opens dir as a read-only site tier: a cache that admins
// publish into (`senv build --cache-dir DIR` as root) and that users only
// read, the way Spack reads its upstreams. Nothing is created or written in
// it, by this call or later (no locks, no last-used stamps, no temp files,
// no gc), so it needs no write permission. Like any cache, dir and every
// directory above it, its layout dirs, and each entry and lock read from it
// must be owned by a trusted user (root, you, or trusted_owners) and
// writable by nobody else; a refusal is an ErrUntrusted. A dir that does
// not exist is an fs.ErrNotExist (the caller may skip it: a node without
// the mount builds into the user's own cache).
func OpenSiteCache(dir string, trust *Trust) (Cache, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Cache{}, fmt.Errorf("failed to open site cache %s: %w", dir, err)
	}
	c := Cache{Root: filepath.Join(abs, cacheVersion), Trust: trust, ReadOnly: true}
	if _, err := os.Stat(abs); err != nil {
		return c, fmt.Errorf("failed to open site cache %s: %w", dir, err)
	}
	if err := c.checkLayout(abs); err != nil {
		return c, fmt.Errorf("failed to open site cache %s: %w", dir, err)
	}
	return c, nil
}

// Dir is the directory the cache was opened at (its Root without the
// layout bucket).
func (c Cache) Dir() string { return filepath.Dir(c.Root) }

// Tier names where a cache sits in the lookup order, for messages and
// `senv ls`: "site DIR" for a site tier, "cache" for the user's own.
func (c Cache) Tier() string {
	if c.ReadOnly {
		return "site " + c.Dir()
	}
	return "cache"
}

// readOnly is the error of a write to a site tier.
func (c Cache) readOnly(what string) error {
	return fmt.Errorf("failed to %s: %s is a site cache: %w (its admins publish into it with `senv build --cache-dir %s`)",
		what, c.Dir(), ErrReadOnly, c.Dir())
}

// find returns the cache that holds entry id, in lookup order: the site
// tiers first (built by admins, shared by every user), then the user's own
// cache, passing over the site tiers whose Root is in skip. NoPack stores
// (`stage none`) use only their own cache.
func (s *Store) find(id string, skip map[string]bool) (Cache, bool) {
	if !s.NoPack {
		for _, site := range s.Sites {
			if !skip[site.Root] && site.Has(id) {
				return site, true
			}
		}
	}
	if s.Cache.Has(id) {
		return s.Cache, true
	}
	return Cache{}, false
}

// Has reports whether any tier holds entry id.
func (s *Store) Has(id string) bool {
	_, ok := s.find(id, nil)
	return ok
}

// Meta reads the metadata of entry id from the first tier that holds it.
func (s *Store) Meta(id string) (*Meta, error) {
	c, ok := s.find(id, nil)
	if !ok {
		return nil, fmt.Errorf("failed to read env %s: it is in no cache: %w", id, os.ErrNotExist)
	}
	return c.Meta(id)
}
