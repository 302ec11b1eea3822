package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/check"
	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/wrapper"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "print the effective config and check cache, stage, module system and tools",
		Description: `Prints each configuration key, its value and where it came from (default,
a config file, an SENV_* variable or a flag), then checks the cache and stage
dirs (owner, mode, free space, file locks), each site cache (site_cache:
the read-only tiers looked in first, in order; trusted and readable), the module system and the Python
tools. Exits 1 if a check fails. For the cache and stage dirs it shows the
free space and free inodes of their filesystems (statfs), and warns when
less than 5% of either is left. That is the filesystem's headroom: a user,
group or project quota may be lower (see quota -s, lfs quota or mmlsquota,
and senv gc --max-size).

Examples:
   senv doctor
   SENV_CACHE_DIR=/scratch/$USER/senv senv doctor`,
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c, nil)
			if err != nil {
				return err
			}
			for _, f := range config.Files(os.Getenv) {
				state := "absent"
				if _, err := os.Stat(f); err == nil {
					state = "read"
				}
				fmt.Fprintf(c.App.Writer, "config file %s: %s\n", f, state)
			}
			fmt.Fprintln(c.App.Writer)
			w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KEY\tVALUE\tFROM")
			for _, s := range config.Settings {
				fmt.Fprintf(w, "%s\t%s\t%s\n", s.Key, orDash(cfg.Value(s.Key)), cfg.Source[s.Key])
			}
			w.Flush()
			fmt.Fprintln(c.App.Writer)
			failed := 0
			result := func(name string, err error, ok string) {
				if err != nil {
					failed++
					fmt.Fprintf(c.App.Writer, "FAIL  %-14s %v\n", name, err)
					return
				}
				fmt.Fprintf(c.App.Writer, "ok    %-14s %s\n", name, ok)
			}
			trust, err := envs.NewTrust(cfg.TrustedOwners)
			if err != nil {
				result("trusted_owners", err, "")
			}
			cache, err := envs.OpenCache(cfg.CacheDir, trust)
			result("cache_dir", err, dirInfo(cfg.CacheDir))
			if err == nil {
				result("cache locks", envs.ProbeLocks(cache.Root), "flock works on the cache filesystem")
			}
			spaceLine(c.App.Writer, "cache space", cfg.CacheDir)
			for i, dir := range cfg.SiteCache {
				if dir == cache.Dir() {
					fmt.Fprintf(c.App.Writer, "ok    %-14s %s is your cache_dir: you publish into it\n", "site_cache", dir)
					continue
				}
				_, err := envs.OpenSiteCache(dir, trust)
				if errors.Is(err, fs.ErrNotExist) { // jobs skip it, and build into cache_dir
					fmt.Fprintf(c.App.Writer, "warn  %-14s %s does not exist on this node: jobs here skip it\n", "site_cache", dir)
					continue
				}
				result("site_cache", err, fmt.Sprintf("tier %d of %d, read-only, looked in before cache_dir: %s", i+1, len(cfg.SiteCache), dirInfo(dir)))
			}
			_, err = envs.OpenStage(cfg.StageDir, trust)
			result("stage_dir", err, dirInfo(cfg.StageDir))
			spaceLine(c.App.Writer, "stage space", cfg.StageDir)
			if line, warn := wrapper.MountCheck(cfg); warn {
				fmt.Fprintf(c.App.Writer, "warn  %-14s %s\n", "mount_dir", line)
			} else {
				fmt.Fprintf(c.App.Writer, "ok    %-14s %s\n", "mount_dir", line)
			}
			if init := check.ModuleInit(cfg); init != "" {
				result("modules", nil, "init script found ("+init+")")
			} else {
				fmt.Fprintf(c.App.Writer, "warn  %-14s no module system init script found (module_init)\n", "modules")
			}
			for _, tool := range []struct{ name, bin string }{{"python", cfg.Python}, {"uv", cfg.UV}, {"micromamba", cfg.Micromamba}, {"mamba", cfg.Mamba}, {"conda", cfg.Conda}} {
				if p, err := exec.LookPath(tool.bin); err == nil {
					fmt.Fprintf(c.App.Writer, "ok    %-14s %s\n", tool.name, p)
				} else {
					fmt.Fprintf(c.App.Writer, "warn  %-14s %s not found\n", tool.name, tool.bin)
				}
			}
			if failed > 0 {
				return cli.Exit(fmt.Sprintf("%d check(s) failed", failed), exitEnv)
			}
			return nil
		},
	}
}

// dirInfo describes a directory: path and mode.
func dirInfo(dir string) string {
	info, err := os.Stat(dir)
	if err != nil {
		return err.Error()
	}
	abs, _ := filepath.Abs(dir)
	return fmt.Sprintf("%s mode %v", abs, info.Mode().Perm())
}
