package envs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/senv-hpc/senv/solver"
)

// Store ties the shared Cache and the node-local Stage together. It is safe
// for concurrent use by many processes on many nodes: every step that
// writes is under a lock or publishes with a rename that never replaces.
type Store struct {
	Cache Cache // the user's own: what senv builds is published here
	// Sites are read-only site tiers (OpenSiteCache), searched in order
	// before Cache for an env; senv never writes to them.
	Sites   []Cache
	Stage   Stage
	Timeout time.Duration        // longest wait for another builder or stager
	Logf    func(string, ...any) // one line per phase, for job logs
	NoPack  bool                 // stage none: build in place in a shared Stage, publish no archive
	// MountDir is where the root Prolog mounts env images (mount_dir); ""
	// for none. See Mounted.
	MountDir string
	// Publish makes sure a staged env is also in the cache (senv build and
	// senv sbatch promise that other nodes find it there); run-time callers
	// leave it off and pay no shared-filesystem lookup.
	Publish bool
	// Progress, when set, is told how long work is going (a terminal shows
	// a bar): phase "staging" with bytes done/total, phases "building" and
	// "compiling bytecode" with elapsed milliseconds and total 0, and phase
	// "" when the work is over.
	Progress func(phase string, done, total int64)
	// Installed, when set, is called once a build has installed env id
	// and before it compiles its bytecode, packs and publishes it, with the
	// build lock held: senv sbatch submits its job there, so that those
	// overlap the job's wait in the queue instead of adding to the wait at
	// submit. A job that starts before the entry is published waits for the
	// lock (AwaitBuild). Builds that publish nothing (NoPack, local) and builds
	// without a working lock (ErrNoLocks: the job could not wait) do not
	// call it.
	Installed func(id string)
}

// Outcome says what Ensure had to do.
type Outcome string

// Outcomes of Ensure.
const (
	Staged   Outcome = "staged"         // already on this node
	SiteHit  Outcome = "site cache hit" // copied from a site tier onto this node
	CacheHit Outcome = "cache hit"      // copied from the cache onto this node
	Built    Outcome = "built"          // built here, published, and staged
	Mount    Outcome = "mounted"        // its image is mounted on this node (by the Prolog)
)

// MountedPrefix returns where env id's image is mounted on this node, if
// the Prolog mounted it for this job (see LeasedMount); the env is then
// used from there and not staged.
func (s *Store) MountedPrefix(id string) (string, bool) {
	if s.MountDir == "" || s.NoPack || !LeasedMount(s.MountDir, id, s.Stage.Job) {
		return "", false
	}
	return filepath.Join(s.MountDir, id), true
}

// Job is what Ensure needs to build an env if it has to.
type Job struct {
	ID      string
	Lock    *solver.Lock
	Backend Backend
	Runner  solver.Runner
	Meta    Meta
}

// Ensure makes env j.ID ready on this node and returns its prefix and what
// it took. It looks in this order: staged on this node, the site tiers
// (Sites), the user's cache; it builds only when no tier has an entry, and
// then once across all nodes, into the user's cache. A site tier whose
// entry cannot be used here (damaged, untrusted, or not relocatable to this
// stage dir) is passed over with a warning: the user cannot repair it, and
// their own cache can hold a copy built at their prefix.
func (s *Store) Ensure(ctx context.Context, j Job) (string, Outcome, error) {
	start := time.Now()
	skip := map[string]bool{} // site tiers passed over
	for attempt := 0; ; attempt++ {
		if s.Stage.Ready(j.ID) {
			if s.Publish && !s.NoPack && !s.Has(j.ID) && j.Lock != nil {
				if err := s.republish(j); err != nil {
					return "", "", err
				}
			}
			if !s.NoPack && s.Cache.Has(j.ID) && time.Since(s.Cache.LastUsed(j.ID)) > time.Hour {
				s.Cache.Touch(j.ID) // gc's clock; at most hourly, to spare the shared filesystem
			}
			s.logf("env %s already staged on this node (%s)", j.ID, since(start))
			return s.Stage.Prefix(j.ID), Staged, nil
		}
		if c, ok := s.find(j.ID, skip); ok && !s.NoPack {
			m, err := s.stageFromCache(c, j.ID)
			if errors.Is(err, fs.ErrNotExist) && attempt < 3 {
				continue // collected (or withdrawn by the admins) while we looked: look again
			}
			if err != nil && c.ReadOnly {
				s.logf("warning: not using the site cache %s's entry: %s", c.Dir(), strings.ReplaceAll(err.Error(), "\n", " "))
				skip[c.Root] = true
				continue
			}
			var re *RelocateError
			if errors.As(err, &re) && j.Lock != nil && attempt < 3 {
				// the user's own (or a lab's) entry, built at a shorter
				// prefix: the ID is taken, so build here without publishing
				s.logf("warning: %s; building it on this node instead", strings.ReplaceAll(err.Error(), "\n", " "))
				built, err := s.build(ctx, j, true)
				if err != nil {
					return "", "", err
				}
				if built {
					return s.Stage.Prefix(j.ID), Built, nil
				}
				continue
			}
			if err != nil {
				return "", "", err
			}
			outcome := CacheHit
			if c.ReadOnly {
				outcome = SiteHit
			}
			if m != nil {
				s.logf("env %s %s, staged %d files (%s) from %s in %s%s", j.ID, outcome, m.Count(), humanBytes(m.Bytes),
					c.Tier(), since(start), relocated(m, s.Stage.Prefix(j.ID)))
				c.Touch(j.ID)
			}
			return s.Stage.Prefix(j.ID), outcome, nil
		}
		built, err := s.build(ctx, j, false)
		if err != nil {
			return "", "", err
		}
		if built {
			return s.Stage.Prefix(j.ID), Built, nil
		}
		if attempt > 2 {
			return "", "", fmt.Errorf("failed to build env %s: gave up after %d attempts", j.ID, attempt+1)
		}
	}
}

// AwaitBuild waits, up to Timeout, for a build of env id that holds the
// cache's build lock (senv sbatch submits its job before it packs), and
// reports whether a tier has the entry then. With no build running it
// returns at once.
func (s *Store) AwaitBuild(id string) bool {
	if s.NoPack {
		return false
	}
	s.Cache.AwaitBuild(id, s.Timeout, s.waitMsg)
	return s.Has(id)
}

// stageFromCache copies entry id onto this node unless another process did
// it first; it returns nil when there was nothing to do.
func (s *Store) stageFromCache(c Cache, id string) (*Manifest, error) {
	l, err := s.Stage.Lock(id, s.Timeout, s.waitMsg)
	if err != nil {
		return nil, err
	}
	defer l.Release()
	if s.Stage.Ready(id) {
		return nil, nil
	}
	defer s.progress("", 0, 0)
	return s.Stage.FromCache(c, id, func(done, total int64) { s.progress("staging", done, total) },
		func(msg string) { s.logf("warning: %s", msg) })
}

// build builds, publishes and stages env j.ID under the cache-wide build
// lock. It returns false, without error, when another builder published it
// while we waited.
//
// local builds and stages the env on this node only, publishing nothing:
// for an entry the cache holds but cannot relocate to this stage dir.
func (s *Store) build(ctx context.Context, j Job, local bool) (bool, error) {
	if j.Lock == nil {
		return false, fmt.Errorf("failed to stage env %s: it is not in the cache %s", j.ID, s.Cache.Root)
	}
	var bl *Flock
	var err error
	if !local {
		bl, err = s.Cache.BuildLock(j.ID, s.Timeout, s.waitMsg)
	}
	switch {
	case local:
	case errors.Is(err, ErrNoLocks):
		s.logf("env %s: the cache filesystem has no working locks; building anyway (first publisher wins)", j.ID)
	case err != nil:
		return false, err
	default:
		defer bl.Release()
		if s.Cache.Has(j.ID) || (s.NoPack && s.Stage.Ready(j.ID)) {
			return false, nil
		}
		s.Cache.CleanTemp(j.ID)
	}
	sl, err := s.Stage.Lock(j.ID, s.Timeout, s.waitMsg)
	if err != nil {
		return false, err
	}
	defer sl.Release()
	if s.Stage.Ready(j.ID) {
		return false, nil
	}
	if err := s.Stage.Reset(j.ID); err != nil {
		return false, err
	}
	scratch, err := NewScratch("build", s.Cache.Trust)
	if err != nil {
		return false, err
	}
	defer scratch.Remove()
	// The tools inherit the stage lock: if senv is killed, the next builder
	// on this node waits until they are gone too before it resets prefix.
	r := j.Runner
	r.Env = append(r.Env[:len(r.Env):len(r.Env)], "TMPDIR="+scratch.Path)
	r.Hold = append(r.Hold[:len(r.Hold):len(r.Hold)], sl.File())
	prefix := s.Stage.Prefix(j.ID)
	s.logf("env %s building with %s (%d packages)", j.ID, j.Lock.Tool, j.Lock.PackageCount())
	start := time.Now()
	var out bytes.Buffer
	failed := func(err error) (bool, error) {
		// before Reset, which frees what the step wrote
		if se := buildSpaceError(err, out.String(), prefix, scratch.Path); se != nil {
			err = se
		}
		_ = s.Stage.Reset(j.ID)
		return false, fmt.Errorf("failed to build env %s: %w%s%s", j.ID, err, tail(out.String(), 30), hintLine(err))
	}
	stop := s.tick("building", start)
	err = j.Backend.Create(ctx, r, j.Lock, prefix, &out)
	stop()
	if err != nil {
		return failed(err)
	}
	j.Meta.BuildSeconds = time.Since(start).Seconds()
	if s.Installed != nil && bl != nil && !s.NoPack { // a job can wait for this lock
		h := time.Now()
		s.Installed(j.ID)
		start = start.Add(time.Since(h)) // not the build's time
	}
	// the bytecode after Installed: the job is queued while it compiles
	c := time.Now()
	out.Reset()
	stop = s.tick("compiling bytecode", start)
	err = j.Backend.Compile(ctx, r, j.Lock, prefix, &out)
	stop()
	if err != nil {
		return failed(err)
	}
	j.Meta.CompileSeconds = time.Since(c).Seconds()
	if !s.NoPack && !local {
		// Publish removes its partial archive on failure: measure before
		before, _ := StatFS(s.Cache.Root)
		m, err := s.Cache.Publish(&j.Meta, j.Lock, prefix)
		if err != nil {
			_ = s.Stage.Reset(j.ID)
			if se := packSpaceError(err, before); se != nil {
				return false, fmt.Errorf("failed to build env %s: %w%s", j.ID, se, hintLine(se))
			}
			return false, err
		}
		s.logf("env %s built in %s (install %.1fs, bytecode %.1fs, then pack %.1fs): %d files, %s", j.ID, since(start).Round(100*time.Millisecond),
			j.Meta.BuildSeconds, j.Meta.CompileSeconds, j.Meta.PackSeconds, m.Count(), humanBytes(m.Bytes))
		if n, first := binaryEmbeds(m); n > 0 {
			s.logf("env %s: %d binary file(s), such as %s, embed the build prefix: it stages elsewhere only into a stage dir of at most %d characters",
				j.ID, n, first, len(filepath.Dir(m.Prefix)))
		}
	} else if local {
		s.logf("env %s built in %s on this node only (the cache's entry does not fit this stage dir)", j.ID, since(start))
	} else {
		s.logf("env %s built in place in %s", j.ID, since(start))
	}
	return true, s.Stage.MarkReady(j.ID)
}

// republish packs an env that is staged here but missing from the cache
// (the cache was wiped, or collected) and publishes it.
func (s *Store) republish(j Job) error {
	bl, err := s.Cache.BuildLock(j.ID, s.Timeout, s.waitMsg)
	if err != nil && !errors.Is(err, ErrNoLocks) {
		return err
	}
	defer bl.Release()
	if s.Cache.Has(j.ID) {
		return nil
	}
	// what was installed into it since (senv shell, then pip install) is
	// not in the lock, and must not become the env of every other user of
	// the cache: a later run elsewhere builds it from the lock instead
	changed, err := s.Stage.ChangedSince(j.ID)
	if err != nil { // republishing is optional; running from the stage is not
		s.logf("warning: env %s is staged here but not in the cache, and not published from here: %v", j.ID, err)
		return nil
	}
	if changed != "" {
		s.logf("warning: env %s is staged here but not in the cache, and not published from here: %s changed since it was staged (`senv rm %s` and a run restage it as locked)", j.ID, changed, j.ID)
		return nil
	}
	m, err := s.Cache.Publish(&j.Meta, j.Lock, s.Stage.Prefix(j.ID))
	if err != nil {
		return err
	}
	s.logf("env %s was staged here but not in the cache: published %d files (%s)", j.ID, m.Count(), humanBytes(m.Bytes))
	return nil
}

func (s *Store) progress(phase string, done, total int64) {
	if s.Progress != nil {
		s.Progress(phase, done, total)
	}
}

// tick reports elapsed time for phase every 200ms until stopped.
func (s *Store) tick(phase string, start time.Time) (stop func()) {
	if s.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				s.Progress("", 0, 0)
				return
			case <-t.C:
				s.Progress(phase, time.Since(start).Milliseconds(), 0)
			}
		}
	}()
	return func() { close(done); <-finished }
}

func (s *Store) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

func (s *Store) waitMsg(msg string) { s.logf("%s", msg) }

func since(t time.Time) time.Duration {
	d := time.Since(t)
	if d > time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// binaryEmbeds counts the binary files of m that embed its prefix, and
// names the first.
func binaryEmbeds(m *Manifest) (n int, first string) {
	for _, e := range m.Files {
		if e.Embeds == EmbedsBinary {
			if n == 0 {
				first = e.Path
			}
			n++
		}
	}
	return n, first
}

// relocated says, for the log line of a staging, that the env was built at
// another prefix and rewritten for this one.
func relocated(m *Manifest, prefix string) string {
	if m.Prefix == "" || m.Prefix == prefix {
		return ""
	}
	n := 0
	for _, e := range m.Files {
		if e.Embeds != "" {
			n++
		}
	}
	return fmt.Sprintf(", relocated from %s (%d files rewritten)", m.Prefix, n)
}

// hintLine returns "\nhint: ..." for an error that has a hint, else "".
func hintLine(err error) string {
	var se *SpaceError
	if errors.As(err, &se) {
		return "\nhint: " + se.Hint()
	}
	return ""
}

// tail returns the last n lines of s, indented, after a newline; "" if s is
// empty.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if strings.TrimSpace(strings.Join(lines, "")) == "" {
		return ""
	}
	return "\n    " + strings.Join(lines, "\n    ")
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
