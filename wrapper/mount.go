package wrapper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/envs"
)

// PublishImage makes the squashfs image of env id in cfg's cache_dir, for
// nodes to mount at mount_dir/ID (see envs.Cache.PublishImage), unless it
// has one. It returns the image.
func PublishImage(ctx context.Context, cfg *config.Config, id string, logf func(string, ...any)) (*envs.Image, error) {
	if cfg.MountDir == "" {
		return nil, fmt.Errorf("failed to make the image of env %s: mount_dir is empty; set it to where the nodes' Prolog mounts images (default /run/senv)", id)
	}
	trust, err := envs.NewTrust(cfg.TrustedOwners)
	if err != nil {
		return nil, err
	}
	cache, err := envs.OpenCache(cfg.CacheDir, trust)
	if err != nil {
		return nil, err
	}
	if img, err := cache.Image(id); err == nil {
		return img, wrongPrefix(cache, id, img, cfg.MountDir)
	}
	bl, err := cache.BuildLock(id, cfg.LockTimeout, func(msg string) { logWarning(logf, msg) })
	if err != nil && !errors.Is(err, envs.ErrNoLocks) {
		return nil, err
	}
	defer bl.Release()
	img, err := cache.PublishImage(ctx, id, cfg.MountDir)
	if err != nil {
		return nil, err
	}
	if err := wrongPrefix(cache, id, img, cfg.MountDir); err != nil {
		return nil, err // another publisher made it, for another mount_dir
	}
	if logf != nil {
		logf("env %s: image %s made in %.1fs (%d MiB), for mounting at %s", id, envs.ImageFormat, img.Seconds, img.Bytes>>20, img.Prefix)
	}
	return img, nil
}

// wrongPrefix refuses an existing image of id made for another mount dir
// than mountDir: it is never replaced in place (nodes may have it mounted).
func wrongPrefix(c envs.Cache, id string, img *envs.Image, mountDir string) error {
	if want := filepath.Join(mountDir, id); img.Prefix != want {
		return fmt.Errorf("the image of env %s was made to be mounted at %s, not at %s; "+
			"to make one for this mount_dir, remove %s (after unmounting it on the nodes) and run senv build --image again",
			id, img.Prefix, want, filepath.Join(c.Entry(id), "image"))
	}
	return nil
}

// WantsImage reports whether `senv build` should also make an image of env
// id: always with --image (force), else when it publishes into a site cache
// (cache_dir is one of site_cache) an env of at least image_min_size.
func WantsImage(cfg *config.Config, force bool, envBytes int64) bool {
	if force {
		return true
	}
	if cfg.ImageMinSize <= 0 || envBytes < cfg.ImageMinSize || cfg.MountDir == "" {
		return false
	}
	own, _ := filepath.Abs(cfg.CacheDir)
	for _, dir := range cfg.SiteCache {
		if filepath.Clean(dir) == own {
			return true
		}
	}
	return false
}

// MountableImage reports whether a site tier of cfg holds an image of env
// id that this node could mount at mount_dir: what the Prolog's job user
// half asks before it would stage the env instead.
func MountableImage(cfg *config.Config, id string) bool {
	if cfg.MountDir == "" || !envs.ValidID(id) {
		return false
	}
	_, img := findImage(cfg, id, nil)
	return img != nil && img.Prefix == filepath.Join(cfg.MountDir, id)
}

// findImage returns the first site tier of cfg whose entry id has an image,
// and the image; nil if none has.
func findImage(cfg *config.Config, id string, logf func(string, ...any)) (envs.Cache, *envs.Image) {
	trust, err := envs.NewTrust(cfg.TrustedOwners)
	if err != nil {
		logWarning(logf, err.Error())
		return envs.Cache{}, nil
	}
	for _, dir := range cfg.SiteCache {
		site, err := envs.OpenSiteCache(dir, trust)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				logWarning(logf, err.Error())
			}
			continue
		}
		if !site.HasImage(id) {
			continue
		}
		img, err := site.Image(id)
		if err != nil {
			logWarning(logf, fmt.Sprintf("not mounting env %s from %s: %v", id, dir, err))
			continue
		}
		return site, img
	}
	return envs.Cache{}, nil
}

// MountImage mounts, as root, the image of env id from the first site tier
// of cfg that has one, at mount_dir/ID, leased by job (a Slurm job ID, or
// envs.AdminJob). Root mounts only images of site tiers: entries that
// users cannot write. It returns the mount prefix, or "" when no site tier
// has an image of id.
func MountImage(ctx context.Context, cfg *config.Config, id, job string, logf func(string, ...any)) (string, error) {
	if cfg.MountDir == "" {
		return "", fmt.Errorf("failed to mount env %s: mount_dir is empty", id)
	}
	if !envs.ValidID(id) {
		return "", fmt.Errorf("failed to mount env: %q is not an env ID", id)
	}
	site, img := findImage(cfg, id, logf)
	if img == nil {
		return "", nil
	}
	mounts, err := envs.OpenMounts(cfg.MountDir)
	if err != nil {
		return "", err
	}
	start := time.Now()
	wait := cfg.LockTimeout // for another mounter of id on this node, within the hook's deadline
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d))
	}
	mounted, err := mounts.Mount(ctx, site, id, job, wait)
	if err != nil {
		return "", err
	}
	if logf != nil {
		if mounted {
			logf("env %s: mounted its image (%d MiB) from %s at %s in %s", id, img.Bytes>>20, site.Dir(), mounts.Prefix(id), time.Since(start).Round(time.Millisecond))
		} else {
			logf("env %s: its image is mounted at %s already", id, mounts.Prefix(id))
		}
	}
	return mounts.Prefix(id), nil
}

// ReleaseMounts drops job's leases on this node's env mounts and unmounts
// the images no running job uses: the Epilog's root half. A node without
// mount_dir has nothing to do.
func ReleaseMounts(ctx context.Context, cfg *config.Config, job string, logf func(string, ...any)) error {
	if cfg.MountDir == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(cfg.MountDir, ".senv")); err != nil {
		return nil // nothing was ever mounted on this node
	}
	mounts, err := envs.OpenMounts(cfg.MountDir)
	if err != nil {
		return err
	}
	mounts.Keep = cfg.MountKeep
	// root's view: the jobs of every user that share this node's mounts
	newJobs := func() envs.Jobs {
		return &envs.SlurmJobs{Ended: job, AllUsers: true, Ctx: ctx, Warn: func(msg string) { logWarning(logf, msg) }}
	}
	wait := 10 * time.Second // for a Prolog mounting the same image; each wait is also bounded by ctx
	return mounts.Release(ctx, job, newJobs, wait, logf)
}

// UnmountImage drops the admin lease of env id (`senv mount`) and unmounts
// it unless a running job uses it.
func UnmountImage(cfg *config.Config, id string, logf func(string, ...any)) error {
	if !envs.ValidID(id) {
		return fmt.Errorf("failed to unmount env: %q is not an env ID", id)
	}
	mounts, err := envs.OpenMounts(cfg.MountDir)
	if err != nil {
		return err
	}
	newJobs := func() envs.Jobs {
		return &envs.SlurmJobs{AllUsers: true, Warn: func(msg string) { logWarning(logf, msg) }}
	}
	return mounts.Unmount(id, newJobs, logf)
}

// PublishImage makes the image of the env p built, after `senv build`, if
// WantsImage says so: force (--image), or an env of at least
// image_min_size published into a site cache. It is an error to force an
// image of an env that is not in cfg's cache_dir (a site tier's: its
// admins make the images there); an image that was not forced and fails
// is a warning, since the env itself is published.
func (p *Prepared) PublishImage(ctx context.Context, cfg *config.Config, force bool, logf func(string, ...any)) error {
	if p.ID == "" || p.Store == nil || p.Store.NoPack {
		if force {
			return fmt.Errorf("failed to make an image: this spec builds no packed environment")
		}
		return nil
	}
	meta, err := p.Store.Cache.Meta(p.ID)
	if err != nil {
		if force {
			return fmt.Errorf("failed to make the image of env %s: it is not in your cache_dir %s: %w", p.ID, cfg.CacheDir, err)
		}
		return nil
	}
	if !WantsImage(cfg, force, meta.Bytes) {
		return nil
	}
	_, err = PublishImage(ctx, cfg, p.ID, logf)
	if err != nil && !force {
		// the env is built and published: an image nobody asked for is not worth failing for
		logWarning(logf, fmt.Sprintf("%v; the env is published without an image (image_min_size %d; jobs stage it)", err, cfg.ImageMinSize))
		return nil
	}
	return err
}

// MountCheck describes whether jobs on this node can use env images that
// the Prolog mounts at cfg's mount_dir, for `senv doctor`: a line, and
// whether it is a warning.
func MountCheck(cfg *config.Config) (string, bool) {
	if cfg.MountDir == "" {
		return "off (mount_dir is empty): envs are always staged", false
	}
	if !envs.KernelHasSquashfs() {
		return fmt.Sprintf("the kernel has no squashfs driver loaded (/proc/filesystems): the Prolog's mounts at %s load it, or fail and jobs stage", cfg.MountDir), true
	}
	info, err := os.Lstat(cfg.MountDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%s does not exist yet (the Prolog makes it at its first mount)", cfg.MountDir), false
	case err != nil:
		return err.Error(), true
	}
	ids := envs.MountedIDs(cfg.MountDir)
	if st, ok := info.Sys().(*syscall.Stat_t); !ok || st.Uid != 0 || !info.IsDir() || info.Mode().Perm()&0o022 != 0 {
		return fmt.Sprintf("%s is not a root-owned directory that only root can write (%v): jobs never use a mount there", cfg.MountDir, info.Mode()), true
	}
	idle := 0
	for _, id := range ids {
		if (envs.Mounts{Dir: cfg.MountDir}).Idle(id) {
			idle++
		}
	}
	return fmt.Sprintf("%s: %d env image(s) mounted on this node, %d of them idle (kept for mount_keep %s)", cfg.MountDir, len(ids), idle, cfg.MountKeep), false
}
