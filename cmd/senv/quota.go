package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/envs"
)

// parseCount reads a count of inodes: "200000", "200k", "1.5M" (powers of
// 1000).
func parseCount(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := 1.0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult, t = 1e3, t[:n-1]
		case 'M':
			mult, t = 1e6, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || v*mult >= 1<<62 {
		return 0, fmt.Errorf("%q is not a count (write e.g. 200000 or 200k)", s)
	}
	return int64(v * mult), nil
}

// quotaFlags reads --max-size and --max-inodes; a zero Quota when neither
// is given.
func quotaFlags(c *cli.Context) (envs.Quota, error) {
	var q envs.Quota
	var err error
	if s := c.String("max-size"); s != "" {
		if q.Bytes, err = config.ParseSize(s); err != nil {
			return q, usagef("--max-size: %v", err)
		}
	}
	if s := c.String("max-inodes"); s != "" {
		if q.Inodes, err = parseCount(s); err != nil {
			return q, usagef("--max-inodes: %v", err)
		}
	}
	return q, nil
}

// size renders bytes the way config.ParseSize reads them.
func size(n int64) string {
	const units = "KMGTP"
	if n < 1024 {
		return fmt.Sprintf("%dB", n)
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f%c", v, units[i])
}

// describeQuota renders q for messages: "50.0G and 200000 inodes".
func describeQuota(q envs.Quota) string {
	var parts []string
	if q.Bytes > 0 {
		parts = append(parts, size(q.Bytes))
	}
	if q.Inodes > 0 {
		parts = append(parts, fmt.Sprintf("%d inodes", q.Inodes))
	}
	return strings.Join(parts, " and ")
}

// fitQuota is gc's --max-size/--max-inodes half: it removes cache entries
// and `stage none` envs, least recently used first, until the cache fits
// q, keeping every env in use on this node. It reports each removal on
// stderr and a summary after; with dryRun it removes nothing and prints
// what it would remove on stdout.
func fitQuota(c *cli.Context, cfg *config.Config, cache envs.Cache, stage envs.Stage, q envs.Quota, dryRun bool) error {
	var sharedPtr *envs.Stage
	shared, hasShared := sharedStage(cfg, cache)
	if hasShared {
		sharedPtr = &shared
	}
	candidates, err := cache.QuotaEnvs(sharedPtr)
	if err != nil {
		return err
	}
	total, err := cache.Usage()
	if err != nil {
		return err
	}
	jobs := &envs.SlurmJobs{Warn: func(msg string) { logf("warning: %s", msg) }}
	notOurs := map[string]error{} // in a lab cache, other members' entries
	remove := func(e envs.QuotaEnv) (bool, error) {
		in := stage
		if e.StageNone {
			in = shared
		}
		if dryRun {
			if dir := cache.Entry(e.ID); !e.StageNone && unix.Access(dir, unix.W_OK) != nil {
				notOurs[e.ID] = fmt.Errorf("no write access to %s", dir) // rename needs it
				return false, nil
			}
			return !in.InUse(e.ID, jobs), nil
		}
		var removed bool
		var err error
		if e.StageNone {
			removed, err = shared.RemoveUnused(e.ID, jobs)
		} else {
			removed, err = cache.RemoveUnused(e.ID, stage, jobs)
		}
		if errors.Is(err, fs.ErrPermission) {
			notOurs[e.ID] = err
			return false, nil
		}
		return removed, err
	}
	r, err := envs.FitQuota(total, candidates, q, remove)
	if err != nil {
		return err
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	for _, e := range r.Removed {
		what := "cache entry"
		if e.StageNone {
			what = "stage none env"
		}
		line := fmt.Sprintf("%s %s %s (%s, %d inodes, last used %s)", verb, what, e.ID, size(e.Usage.Bytes), e.Usage.Inodes,
			e.LastUsed.Local().Format("2006-01-02 15:04"))
		if dryRun {
			fmt.Fprintln(c.App.Writer, line)
		} else {
			logf("%s", line)
		}
	}
	inUse := 0
	for _, e := range r.InUse {
		why := "in use on this node"
		if err := notOurs[e.ID]; err != nil {
			why = fmt.Sprintf("not yours to remove (%v); its owner can", err)
		} else {
			inUse++
		}
		logf("kept env %s (%s, last used %s): %s", e.ID, size(e.Usage.Bytes), e.LastUsed.Local().Format("2006-01-02 15:04"), why)
	}
	after, done := "after", "removed"
	if dryRun {
		after, done = "after it", "to remove"
	}
	logf("cache %s: %s, %d inodes before; %s, %d inodes %s (cap %s): %d env(s) %s, %d kept in use",
		cache.Root, size(r.Before.Bytes), r.Before.Inodes, size(r.After.Bytes), r.After.Inodes, after,
		describeQuota(q), len(r.Removed), done, inUse)
	if !q.Fits(r.After) {
		logf("warning: the cache is still over the cap: what is left is in use, not yours, or not an env (locks, tmp/); see senv ls")
	}
	return nil
}

// total is one line of `senv ls`'s totals: what a cache or a stage dir
// takes on disk.
type total struct {
	Kind string `json:"kind"` // cache, stage, or stage none (the cache's shared dir, counted in cache too)
	Dir  string `json:"dir"`
	Envs int    `json:"envs"`
	envs.Usage
}

// totals measures the cache (all of it), its shared dir of `stage none`
// envs, and this node's stage dir.
func totals(cfg *config.Config, cache envs.Cache, stage envs.Stage) ([]total, error) {
	metas, err := cache.List()
	if err != nil {
		return nil, err
	}
	cu, err := cache.Usage()
	if err != nil {
		return nil, err
	}
	out := []total{{Kind: "cache", Dir: cfg.CacheDir, Envs: len(metas), Usage: cu}}
	if shared, ok := sharedStage(cfg, cache); ok {
		n, err := readyCount(shared)
		if err != nil {
			return nil, err
		}
		u, err := envs.DiskUsage(shared.Dir)
		if err != nil {
			return nil, err
		}
		out[0].Envs += n
		out = append(out, total{Kind: "stage none", Dir: shared.Dir, Envs: n, Usage: u})
	}
	n, err := readyCount(stage)
	if err != nil {
		return nil, err
	}
	su, err := envs.DiskUsage(stage.Dir)
	if err != nil {
		return nil, err
	}
	return append(out, total{Kind: "stage", Dir: stage.Dir, Envs: n, Usage: su}), nil
}

func readyCount(s envs.Stage) (int, error) {
	staged, err := s.List()
	n := 0
	for _, e := range staged {
		if e.Ready {
			n++
		}
	}
	return n, err
}

// printTotals prints the totals as a table.
func printTotals(w io.Writer, ts []total) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOTAL\tENVS\tDISK\tINODES\tDIR")
	for _, t := range ts {
		kind := t.Kind
		if kind == "stage none" {
			kind = "stage none (in cache)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\n", kind, t.Envs, size(t.Bytes), t.Inodes, t.Dir)
	}
	return tw.Flush()
}
