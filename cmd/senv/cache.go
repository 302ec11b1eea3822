package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/wrapper"
)

// openStore opens the cache and this node's stage for the cache commands.
func openStore(c *cli.Context) (*config.Config, envs.Cache, envs.Stage, error) {
	cfg, err := loadConfig(c, nil)
	if err != nil {
		return nil, envs.Cache{}, envs.Stage{}, err
	}
	trust, err := envs.NewTrust(cfg.TrustedOwners)
	if err != nil {
		return nil, envs.Cache{}, envs.Stage{}, err
	}
	cache, err := envs.OpenCache(cfg.CacheDir, trust)
	if err != nil {
		return nil, cache, envs.Stage{}, err
	}
	stage, err := envs.OpenStage(cfg.StageDir, trust)
	return cfg, cache, stage, err
}

// siteTiers opens the read-only site caches (site_cache) for ls, rm and
// gc, which read them and never change them.
func siteTiers(cfg *config.Config, cache envs.Cache) ([]envs.Cache, error) {
	return wrapper.OpenSites(cfg, cache.Trust, logf)
}

// sharedStage opens the cache's dir of `stage none` envs; ok is false when
// there is none (nobody used `stage none` with this cache).
func sharedStage(cfg *config.Config, cache envs.Cache) (stage envs.Stage, ok bool) {
	dir := wrapper.SharedStageDir(cfg)
	if _, err := os.Stat(dir); err != nil {
		return envs.Stage{}, false
	}
	stage, err := envs.OpenStage(dir, cache.Trust)
	return stage, err == nil
}

// envIDs checks the IDs given on the command line.
func envIDs(c *cli.Context) ([]string, error) {
	for _, id := range c.Args().Slice() {
		if !envs.ValidID(id) {
			return nil, usagef("%q is not an env ID (16 lowercase hex digits; see senv ls)", id)
		}
	}
	return c.Args().Slice(), nil
}

// lsEntry is one row of `senv ls`.
type lsEntry struct {
	*envs.Meta
	Tier      string      `json:"tier"`               // "cache" (yours) or "site"
	TierDir   string      `json:"tier_dir,omitempty"` // the site cache's dir
	LastUsed  time.Time   `json:"last_used"`
	Staged    bool        `json:"staged_here"`
	Image     bool        `json:"image,omitempty"`        // it has a squashfs image (senv build --image)
	Mounted   bool        `json:"mounted_here,omitempty"` // its image is mounted on this node (mount_dir)
	StageNone bool        `json:"stage_none,omitempty"`   // built and run in the cache's shared dir, no archive
	Disk      *envs.Usage `json:"disk,omitempty"`         // what it takes in the cache (an entry, or the stage none env)
}

func lsCommand() *cli.Command {
	return &cli.Command{
		Name:  "ls",
		Usage: "list the cached environments",
		Description: `Columns: ID, NAME (#ENV name), MANAGER, SIZE (unpacked), FILES, CREATED,
LAST USED, STAGED (on this node: true, false, or "mounted" when its image
is mounted at mount_dir), TIER: "cache" for your own cache_dir,
"site DIR" for a read-only site cache (site_cache), which jobs look in
first and senv never changes (its LAST USED is when it was published).
Your own entries are listed first, then each site cache's. Envs built with
"stage none" live in the cache's shared dir and are listed last, with
their path. An entry senv
cannot use is listed as DAMAGED with the reason: unreadable metadata
(remove it with senv rm ID) or an owner you do not trust (see
trusted_owners).

After the table, the totals: what the cache (all of cache_dir's v1/,
"stage none" envs included), its "stage none" dir, and this node's stage
dir take on disk, in allocated bytes and inodes, as a quota counts them
(K, M, G are powers of 1024). --json prints the envs as a JSON array (each
with "disk": its bytes and inodes in the cache, "image" when it has a
squashfs image, "mounted_here" when it is mounted); --totals prints only the
totals (with --json, as a JSON array of {kind, dir, envs, bytes, inodes}).

Examples:
   senv ls
   senv ls --totals
   senv ls --json | jq '.[] | select(.staged_here) | .id'
   senv ls --json | jq -r '.[] | select(.tier == "site") | "\(.id) \(.tier_dir)"'
   SENV_SITE_CACHE=/sw/senv senv ls      # also lists /sw/senv's entries, TIER "site /sw/senv"
   senv ls --totals --json | jq '.[] | select(.kind == "cache") | .inodes'`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.BoolFlag{Name: "totals", Usage: "print only the totals of the cache and stage dirs"},
		},
		Action: func(c *cli.Context) error {
			cfg, cache, stage, err := openStore(c)
			if err != nil {
				return err
			}
			if c.Bool("totals") {
				ts, err := totals(cfg, cache, stage)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					enc := json.NewEncoder(c.App.Writer)
					enc.SetIndent("", "  ")
					return enc.Encode(ts)
				}
				return printTotals(c.App.Writer, ts)
			}
			metas, err := cache.List()
			if err != nil {
				return err
			}
			sites, err := siteTiers(cfg, cache)
			if err != nil {
				return err
			}
			var rows []lsEntry
			for _, tier := range append([]envs.Cache{cache}, sites...) {
				if tier.ReadOnly {
					if metas, err = tier.List(); err != nil {
						return err
					}
				}
				for _, m := range metas {
					row := lsEntry{Meta: m, Tier: "cache", LastUsed: tier.LastUsed(m.ID), Staged: stage.Ready(m.ID),
						Image: tier.HasImage(m.ID), Mounted: envs.Mounted(cfg.MountDir, m.ID)}
					if tier.ReadOnly {
						row.Tier, row.TierDir = "site", tier.Dir()
					}
					if u, err := envs.DiskUsage(tier.Entry(m.ID)); err == nil {
						row.Disk = &u
					}
					rows = append(rows, row)
				}
			}
			if shared, ok := sharedStage(cfg, cache); ok {
				staged, err := shared.List()
				if err != nil {
					return err
				}
				for _, e := range staged {
					if e.Ready {
						row := lsEntry{Meta: &envs.Meta{ID: e.ID, Prefix: shared.Prefix(e.ID)}, Tier: "cache", LastUsed: e.Modified, StageNone: true}
						if u, err := envs.DiskUsage(shared.Prefix(e.ID)); err == nil {
							row.Disk = &u
						}
						rows = append(rows, row)
					}
				}
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tMANAGER\tSIZE\tFILES\tCREATED\tLAST USED\tSTAGED\tTIER")
			for _, r := range rows {
				tier := r.Tier
				if r.TierDir != "" {
					tier = "site " + r.TierDir
				}
				if r.Damaged != "" {
					fix := "remove it with senv rm " + r.ID
					switch {
					case r.Untrusted:
						fix = "not used"
					case r.Tier == "site":
						fix = "not used; tell the site cache's admins"
					}
					fmt.Fprintf(w, "%s\t-\t-\t-\t-\t-\t%s\tDAMAGED (%s): %s\t%s\n", r.ID, r.LastUsed.Local().Format("2006-01-02 15:04"), fix, r.Damaged, tier)
					continue
				}
				if r.StageNone {
					fmt.Fprintf(w, "%s\t-\t-\t-\t-\t-\t%s\tstage none (%s)\t%s\n", r.ID, r.LastUsed.Local().Format("2006-01-02 15:04"), r.Prefix, tier)
					continue
				}
				staged := fmt.Sprint(r.Staged)
				if r.Mounted {
					staged = "mounted"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.ID, orDash(r.Name), r.Manager, mib(r.Bytes), r.Files,
					r.Created.Local().Format("2006-01-02 15:04"), r.LastUsed.Local().Format("2006-01-02 15:04"), staged, tier)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			ts, err := totals(cfg, cache, stage)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer)
			return printTotals(c.App.Writer, ts)
		},
	}
}

// siteHolding returns the dir of the first site tier that holds entry id,
// or "".
func siteHolding(sites []envs.Cache, id string) string {
	for _, s := range sites {
		if _, err := os.Lstat(s.Entry(id)); err == nil {
			return s.Dir()
		}
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func mib(n int64) string { return fmt.Sprintf("%.1fM", float64(n)/(1<<20)) }

func rmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove environments from the cache and from this node",
		ArgsUsage: "ID...",
		Description: `A staged copy that a running process uses stays until it is unused.
An entry of a site cache (site_cache) is never removed: senv rm says so and
removes only your staged copy; the site's admins remove it there.

Example:
   senv rm 3da8f8c199244f6b`,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("senv rm needs at least one ID (see senv ls)")
			}
			ids, err := envIDs(c)
			if err != nil {
				return err
			}
			cfg, cache, stage, err := openStore(c)
			if err != nil {
				return err
			}
			shared, hasShared := sharedStage(cfg, cache)
			sites, _ := siteTiers(cfg, cache) // an untrusted one holds nothing to remove
			jobs := &envs.SlurmJobs{Warn: func(msg string) { logf("warning: %s", msg) }}
			for _, id := range ids {
				if hasShared && shared.Ready(id) {
					if removed, err := shared.RemoveUnused(id, jobs); err != nil {
						return err
					} else if !removed {
						logf("env %s (stage none) is in use: it stays until unused", id)
					} else {
						logf("removed env %s (stage none)", id)
					}
					continue
				}
				_, err := os.Lstat(cache.Entry(id)) // a damaged entry may lack its meta.json
				inCache := err == nil
				site := siteHolding(sites, id)
				if !inCache && site != "" {
					logf("env %s is in the site cache %s, which senv never changes: only your staged copy is removed (its admins remove the entry)", id, site)
				}
				if !inCache && !stage.Ready(id) {
					if site != "" {
						return usagef("env %s is only in the site cache %s, which senv never changes; its admins can remove it there", id, site)
					}
					return usagef("no env %q (see senv ls)", id)
				}
				if inCache {
					if err := cache.Remove(id); err != nil {
						return err
					}
				}
				if removed, err := stage.RemoveUnused(id, jobs); err != nil {
					return err
				} else if !removed && stage.Ready(id) {
					logf("env %s is in use on this node: its staged copy stays until unused", id)
				}
				logf("removed env %s", id)
			}
			return nil
		},
	}
}

// parseAge reads a duration that may use days: "30d", "12h", "0".
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(n * 24 * float64(time.Hour)), nil
	}
	if s == "0" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

func gcCommand() *cli.Command {
	return &cli.Command{
		Name:  "gc",
		Usage: "remove environments not used for a while; never one in use",
		Description: `Removes cache entries last used before --older-than (damaged ones too),
staged envs on this node that no running process holds and no running Slurm
job staged (squeue tells which still run), and the temp dirs that killed senv
runs left. Locks (solve results) are kept. Site caches (site_cache) are
never touched: their admins collect them.

With --max-size and/or --max-inodes (a quota), gc removes cache entries and
"stage none" envs, least recently used first (by the cache's last-used
stamp), until the cache dir takes no more than that; an env in use on this
node (leased by a running process, being staged, or staged by a Slurm job
that still runs; inside a job, that job's own envs too) is kept however old
it is, and the next one goes instead.
It prints each env removed, the envs kept in use, and the cache's usage
before and after. The age rule then applies only if --older-than is given
too. Staged copies on this node are left to the age rule. SIZE is bytes
with K, M, G, T suffixes (powers of 1024); N is a count (200000, 200k, 2M).
Use on other nodes cannot be seen: a job there runs from its own staged
copy, and a later job whose entry was removed builds it again.

Examples:
   senv gc --older-than 30d --dry-run
   senv gc --older-than 0
   senv gc --max-size 50G --dry-run
   senv gc --max-size 500M --max-inodes 100k`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "older-than", Value: "30d", Usage: "age of last use, e.g. 30d, 12h, 0"},
			&cli.StringFlag{Name: "max-size", Usage: "remove least recently used envs until the cache takes at most `SIZE` (e.g. 50G, 500M)"},
			&cli.StringFlag{Name: "max-inodes", Usage: "remove least recently used envs until the cache takes at most `N` inodes"},
			&cli.BoolFlag{Name: "dry-run", Usage: "only print what would be removed"},
		},
		Action: func(c *cli.Context) error {
			age, err := parseAge(c.String("older-than"))
			if err != nil {
				return usagef("--older-than %q: %v", c.String("older-than"), err)
			}
			q, err := quotaFlags(c)
			if err != nil {
				return err
			}
			cfg, cache, stage, err := openStore(c)
			if err != nil {
				return err
			}
			for _, dir := range cfg.SiteCache {
				if dir != cache.Dir() {
					logf("site cache %s is read-only: gc leaves it alone", dir)
				}
			}
			if q != (envs.Quota{}) {
				if err := fitQuota(c, cfg, cache, stage, q, c.Bool("dry-run")); err != nil {
					return err
				}
				if !c.IsSet("older-than") {
					if !c.Bool("dry-run") {
						envs.SweepScratch() // what gc always does
					}
					return nil
				}
			}
			cutoff := time.Now().Add(-age)
			metas, err := cache.List()
			if err != nil {
				return err
			}
			for _, m := range metas {
				what := "cache entry"
				switch {
				case m.Untrusted:
					logf("warning: skipping cache entry %s: %s", m.ID, m.Damaged)
					continue
				case m.Damaged != "":
					what = "damaged cache entry"
				}
				if !cache.LastUsed(m.ID).Before(cutoff) && age > 0 {
					if m.Damaged != "" {
						logf("warning: %s %s is not old enough to collect: %s; remove it with senv rm %s", what, m.ID, m.Damaged, m.ID)
					}
					continue
				}
				if c.Bool("dry-run") {
					fmt.Fprintf(c.App.Writer, "would remove %s %s\n", what, m.ID)
					continue
				}
				if err := cache.Remove(m.ID); err != nil {
					logf("warning: %v", err) // removed concurrently
					continue
				}
				logf("removed %s %s", what, m.ID)
			}
			if !c.Bool("dry-run") {
				envs.SweepScratch()
				jobs := &envs.SlurmJobs{Warn: func(msg string) { logf("warning: %s", msg) }}
				if shared, ok := sharedStage(cfg, cache); ok {
					if err := shared.Collect(age, jobs, logger(c)); err != nil {
						return err
					}
				}
				return stage.Collect(age, jobs, logger(c))
			}
			staged, err := stage.List()
			if err != nil {
				return err
			}
			for _, s := range staged {
				if age == 0 || s.Modified.Before(cutoff) {
					fmt.Fprintf(c.App.Writer, "would remove staged env %s (if unused)\n", s.ID)
				}
			}
			return nil
		},
	}
}
