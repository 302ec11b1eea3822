package envs

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/senv-hpc/senv/solver"
)

// cacheVersion is the cache layout bucket: a layout change gets a new
// bucket instead of misreading an old one.
const cacheVersion = "v1"

// Archive, manifest and metadata file names inside a cache entry.
const (
	archiveName  = "env.tar.zst"
	manifestName = "manifest.json"
	indexName    = "manifest.gob"
	metaName     = "meta.json"
	lockName     = "lock.toml"
	lastUsedName = "last-used"
)

// Cache is the shared cache of packed environments:
//
//	ROOT/envs/ID/{env.tar.zst,manifest.json,manifest.gob,meta.json,lock.toml,last-used}
//	ROOT/locks/SPECKEY.toml   solved locks, by spec key
//	ROOT/build/ID.lock        one build per ID at a time, across nodes
//	ROOT/tmp/                 entries being written; renamed into envs/ when whole
//
// Entries are immutable once published. Reading one needs no lock and no
// write access. senv reads only entries, locks and dirs that Trust trusts
// (a nil Trust: the user's and root's). A ReadOnly cache (a site tier,
// OpenSiteCache) is only read: every method that would write to it does
// nothing (Touch) or returns an ErrReadOnly.
type Cache struct {
	Root     string
	Trust    *Trust
	ReadOnly bool
}

// Meta describes a cache entry, for `senv ls` and for staging.
type Meta struct {
	ID             string       `json:"id"`
	Name           string       `json:"name,omitempty"`
	Manager        string       `json:"manager"`
	Kind           string       `json:"kind"`   // activation kind: venv or conda
	Prefix         string       `json:"prefix"` // the path it was built at (staging elsewhere relocates it)
	SpecKey        string       `json:"spec_key"`
	Spec           *solver.Spec `json:"spec,omitempty"`
	Tool           string       `json:"tool"`
	Created        time.Time    `json:"created"`
	BuildSeconds   float64      `json:"build_seconds"`             // the install alone
	CompileSeconds float64      `json:"compile_seconds,omitempty"` // then the bytecode
	PackSeconds    float64      `json:"pack_seconds"`              // then Publish: pack, sync
	Files          int          `json:"files"`
	Bytes          int64        `json:"bytes"`
	ArchiveBytes   int64        `json:"archive_bytes"`
	// Damaged is set by List, never written: why the entry cannot be
	// used (unreadable metadata, or, with Untrusted, an untrusted owner).
	Damaged   string `json:"damaged,omitempty"`
	Untrusted bool   `json:"untrusted,omitempty"`
}

// OpenCache returns the cache under dir, creating its layout if it can.
// A cache dir that is world-writable is refused, and so is one that
// someone untrusted (see Trust) could change: dir, every dir above it,
// and the layout dirs that hold what senv runs (v1/, v1/envs/, v1/locks/).
// Entries are checked as they are read. trust nil trusts only the user and
// root.
func OpenCache(dir string, trust *Trust) (Cache, error) {
	c := Cache{Root: filepath.Join(dir, cacheVersion), Trust: trust}
	if err := os.MkdirAll(c.Root, 0o755); err != nil && !errors.Is(err, fs.ErrPermission) {
		return c, fmt.Errorf("failed to create cache dir: %w", err)
	}
	if err := checkDir(dir, false); err != nil {
		return c, err
	}
	shared := groupShared(c.Root)
	if shared {
		shareDir(c.Root)
	}
	readable := readableBits(dir)
	readableDir(c.Root, readable)
	for _, sub := range []string{"envs", "locks", "build", "tmp"} {
		_ = os.Mkdir(filepath.Join(c.Root, sub), 0o755)
		if shared {
			shareDir(filepath.Join(c.Root, sub))
		}
		readableDir(filepath.Join(c.Root, sub), readable)
	}
	if err := c.checkLayout(dir); err != nil {
		return c, fmt.Errorf("failed to open cache %s: %w", dir, err)
	}
	return c, nil
}

// readableBits are the read and search bits that the cache dir grants its
// group and others: a site cache's readers (0755) must be able to read
// what senv creates in it whatever the publisher's umask.
func readableBits(dir string) fs.FileMode {
	info, err := os.Stat(dir)
	if err != nil {
		return 0
	}
	return info.Mode().Perm() & 0o055
}

// readableDir adds bits to dir, if it is ours and lacks them. Best effort,
// like shareDir.
func readableDir(dir string, bits fs.FileMode) {
	info, err := os.Lstat(dir)
	if err != nil || !info.IsDir() || !ours(info) || info.Mode().Perm()&bits == bits {
		return
	}
	_ = os.Chmod(dir, info.Mode()&(fs.ModePerm|fs.ModeSetgid|fs.ModeSticky)|bits)
}

// checkLayout checks the path to the cache and the dirs entries and locks
// are read from; a missing one is created later, by whoever writes first.
func (c Cache) checkLayout(dir string) error {
	err := c.Trust.checkPath(c.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return c.Trust.checkPath(dir)
	}
	if err != nil {
		return err
	}
	for _, sub := range []string{"envs", "locks"} {
		p := filepath.Join(c.Root, sub)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			continue
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return fmt.Errorf("refusing %s: not a directory", p)
		}
		if err := c.Trust.check(p, &st); err != nil {
			return err
		}
	}
	return nil
}

// checkDir refuses a directory others could write to, and, when mustOwn,
// one owned by another user.
func checkDir(dir string, mustOwn bool) error {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("failed to check %s: %w", dir, err)
	}
	if info.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("refusing %s: it is world-writable, so anyone could plant an environment in it (chmod o-w, or choose another dir)", dir)
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && mustOwn && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("refusing %s: it is owned by uid %d, not by you (uid %d)", dir, st.Uid, os.Getuid())
	}
	return nil
}

// Entry is the directory of entry id.
func (c Cache) Entry(id string) string { return filepath.Join(c.Root, "envs", id) }

// Has reports whether entry id is published.
func (c Cache) Has(id string) bool {
	_, err := os.Stat(filepath.Join(c.Entry(id), metaName))
	return err == nil
}

// Meta reads the metadata of entry id. An entry whose metadata does not
// parse, or names another ID, is damaged (ErrDamagedEntry).
func (c Cache) Meta(id string) (*Meta, error) {
	f, err := c.open(id, metaName)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var m Meta
	if err := decodeJSON(f, &m); err != nil {
		return nil, err
	}
	if m.ID != id {
		return nil, damaged("failed to read %s: it describes env %q", f.Name(), m.ID)
	}
	return &m, nil
}

// ErrDamagedEntry means a cache entry's metadata or manifest cannot be
// read; the fix is `senv rm ID` and a rebuild. Test for it with errors.Is.
var ErrDamagedEntry = errors.New("the cache entry is damaged")

// damagedError is an ErrDamagedEntry that says what is wrong and nothing
// more (callers add "its cache entry is damaged").
type damagedError struct{ msg string }

func (e *damagedError) Error() string        { return e.msg }
func (e *damagedError) Is(target error) bool { return target == ErrDamagedEntry }

func damaged(format string, args ...any) error {
	return &damagedError{fmt.Sprintf(format, args...)}
}

// Manifest reads the manifest of entry id. It reads manifest.gob, the same
// manifest as manifest.json in a form that decodes about 8 times faster
// (3.1 ms instead of 24 ms for 13k files, on every warm start);
// manifest.json is there for people and tools, and for an entry whose
// manifest.gob is damaged.
func (c Cache) Manifest(id string) (*Manifest, error) { return c.manifest(id, nil) }

// manifest is Manifest; warn, if not nil, is told when manifest.gob is
// damaged and manifest.json is used instead.
func (c Cache) manifest(id string, warn func(string)) (*Manifest, error) {
	f, err := c.open(id, indexName)
	if errors.Is(err, fs.ErrNotExist) { // an older entry: Unpack says what to do
		return c.manifestJSON(id)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var m Manifest
	gerr := gob.NewDecoder(bufio.NewReaderSize(io.LimitReader(f, maxMetaBytes), 256<<10)).Decode(&m)
	if gerr == nil {
		return &m, nil
	}
	jm, jerr := c.manifestJSON(id)
	if jerr != nil {
		return nil, damaged("failed to parse %s: %v (and %v)", f.Name(), gerr, jerr)
	}
	if warn != nil {
		warn(fmt.Sprintf("%s is damaged (%v); using %s (`senv rm %s` and a rebuild repair the entry)", f.Name(), gerr, manifestName, id))
	}
	return jm, nil
}

func (c Cache) manifestJSON(id string) (*Manifest, error) {
	f, err := c.open(id, manifestName)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var m Manifest
	if err := decodeJSON(f, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// maxMetaBytes bounds what senv reads of an entry's metadata and
// manifests: a manifest of 100,000 files is about 20 MB.
const maxMetaBytes = 256 << 20

func decodeJSON(f *os.File, v any) error {
	if info, err := f.Stat(); err == nil && info.Size() > maxMetaBytes {
		return damaged("%s is larger than %d MiB", f.Name(), maxMetaBytes>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxMetaBytes+1))
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", f.Name(), err)
	}
	if len(data) > maxMetaBytes {
		return damaged("%s is larger than %d MiB", f.Name(), maxMetaBytes>>20)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return damaged("failed to parse %s: %v", f.Name(), err)
	}
	return nil
}

// open opens file name of entry id (or DIR/name, one dir down) for
// reading, through a descriptor of the entry dir, and refuses it unless
// each is real (no symlinks) and trusted: owned by a trusted user and
// writable by nobody else.
func (c Cache) open(id, name string) (*os.File, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("failed to read cache entry: %q is not an env ID", id)
	}
	dirPath := c.Entry(id)
	dfd, err := unix.Open(dirPath, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to open cache entry %s: %w", id, &fs.PathError{Op: "open", Path: dirPath, Err: err})
	}
	defer unix.Close(dfd)
	if err := c.checkFd(dfd, dirPath, unix.S_IFDIR); err != nil {
		return nil, err
	}
	dir, name := filepath.Split(name) // "image/env.sqfs": a dir of the entry, checked like it
	if dir != "" {
		sub := filepath.Join(dirPath, dir)
		sfd, err := unix.Openat(dfd, filepath.Clean(dir), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("failed to open %s: %w", sub, &fs.PathError{Op: "open", Path: sub, Err: err})
		}
		defer unix.Close(sfd)
		if err := c.checkFd(sfd, sub, unix.S_IFDIR); err != nil {
			return nil, err
		}
		dfd, dirPath = sfd, sub
	}
	p := filepath.Join(dirPath, name)
	// O_NONBLOCK: a FIFO planted as an entry file is refused below, not
	// waited on (it has no effect on a regular file's reads)
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to open %s: %w", p, &fs.PathError{Op: "open", Path: p, Err: err})
	}
	if err := c.checkFd(fd, p, unix.S_IFREG); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), p), nil
}

func (c Cache) checkFd(fd int, path string, kind uint32) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("failed to check %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != kind {
		return damaged("refusing %s: not a regular file or directory", path)
	}
	return c.Trust.check(path, &st)
}

// ReadLock returns the lock recorded for a spec key, or (nil, nil). A lock
// decides what gets installed, so an untrusted one is refused.
func (c Cache) ReadLock(specKey string) (*solver.Lock, error) {
	p := filepath.Join(c.Root, "locks", specKey+".toml")
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err == nil {
		// locks/ is trusted (OpenCache), so what is checked here is what
		// ReadLockFile reads
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil, fmt.Errorf("refusing %s: not a regular file", p)
		}
		if err := c.Trust.check(p, &st); err != nil {
			return nil, err
		}
	}
	return solver.ReadLockFile(p)
}

// PublishLock records a lock for its spec key. The first lock recorded for
// a key stays: later ones are dropped, so every job of a spec agrees.
// replace is for `--upgrade`, which records a new solve on purpose.
func (c Cache) PublishLock(l *solver.Lock, replace bool) error {
	data, err := l.Marshal()
	if err != nil {
		return err
	}
	dst := filepath.Join(c.Root, "locks", l.SpecKey+".toml")
	tmp, err := c.writeTemp(l.SpecKey, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if replace {
		err = os.Rename(tmp, dst)
	} else {
		err = os.Link(tmp, dst) // never replaces
		if errors.Is(err, fs.ErrExist) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("failed to publish lock: %w", err)
	}
	return nil
}

func (c Cache) writeTemp(prefix string, data []byte) (string, error) {
	if c.ReadOnly {
		return "", c.readOnly("write to cache")
	}
	f, err := os.CreateTemp(filepath.Join(c.Root, "tmp"), tempPrefix(prefix, "lock")+"*")
	if err != nil {
		return "", fmt.Errorf("failed to write to cache: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644) // CreateTemp makes 0600; other readers of a shared cache need it
	}
	if err == nil {
		err = f.Sync() // it is published by a link or a rename
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("failed to write to cache: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("failed to write to cache: %w", err)
	}
	return f.Name(), nil
}

// BuildLock takes the cache-wide build lock of env id, waiting up to
// timeout. onWait gets a message naming the holder. ErrNoLocks means the
// filesystem has no working locks: build anyway, first publisher wins.
func (c Cache) BuildLock(id string, timeout time.Duration, onWait func(msg string)) (*Flock, error) {
	return c.lock(id, "building env "+id, timeout, onWait)
}

// AwaitBuild waits up to timeout while a builder holds env id's build
// lock, with a shared lock on the lock file opened read-only: waiters do
// not queue behind each other, note themselves as the holder, or create
// anything. It returns at once when no one builds, when the cache is
// read-only or its filesystem has no working locks.
func (c Cache) AwaitBuild(id string, timeout time.Duration, onWait func(msg string)) {
	if c.ReadOnly {
		return
	}
	path := filepath.Join(c.Root, "build", id+".lock")
	f, err := openLock(path, os.O_RDONLY) // not created: no file, no build
	if err != nil {
		return
	}
	l, err := lockOpen(f, path, unix.LOCK_SH, timeout, waitNote(path, "building env "+id, timeout, onWait))
	if err == nil {
		l.Release()
	}
}

// SolveLock is BuildLock for the one solve of a spec key.
func (c Cache) SolveLock(specKey string, timeout time.Duration, onWait func(msg string)) (*Flock, error) {
	return c.lock("spec-"+specKey, "solving spec "+specKey, timeout, onWait)
}

func (c Cache) lock(name, doing string, timeout time.Duration, onWait func(msg string)) (*Flock, error) {
	if c.ReadOnly {
		return nil, c.readOnly(doing)
	}
	path := filepath.Join(c.Root, "build", name+".lock")
	if groupShared(c.Root) {
		shareFile(path) // other members must open it too
	}
	l, err := lockFile(path, unix.LOCK_EX, timeout, waitNote(path, doing, timeout, onWait))
	if errors.Is(err, errLockTimeout) {
		return nil, fmt.Errorf("timed out after %s waiting for %s, who is %s; "+
			"raise lock_timeout, or if it is stuck, stop it", timeout, holder(path), doing)
	}
	if err != nil {
		return nil, err
	}
	l.Note()
	return l, nil
}

// waitNote is the lock wait's callback: it tells onWait who holds the lock
// at path and what they are doing.
func waitNote(path, doing string, timeout time.Duration, onWait func(msg string)) func() {
	return func() {
		if onWait != nil {
			onWait(fmt.Sprintf("waiting for %s, who is %s (up to %s)", holder(path), doing, timeout))
		}
	}
}

// CleanTemp removes leftovers of crashed writers of id (an env ID or a
// spec key) from the cache's tmp/. Call it only while holding id's build
// lock. A leftover is a crashed writer's when it names this host and a
// process that is gone (see tempPrefix), or when nothing in it changed for
// tempGrace: on a filesystem whose locks hold only within a node (BeeGFS
// by default, Lustre with localflock) another node's builder may hold "the
// same" lock and be writing it right now, and removing its files as it
// renames them into place would publish a damaged entry.
func (c Cache) CleanTemp(id string) {
	if c.ReadOnly {
		return
	}
	matches, _ := filepath.Glob(filepath.Join(c.Root, "tmp", id+".*"))
	for _, m := range matches {
		if crashedTemp(m, id) {
			_ = os.RemoveAll(m)
		}
	}
}

// tempGrace is how long CleanTemp leaves a leftover it cannot tell is a
// crashed writer's (another host's, or one of an older senv) after its
// last change.
const tempGrace = time.Hour

// tempPrefix is how the name of a temp file or dir of id (an env ID or a
// spec key) in the cache's tmp/ begins: ID.WRITER.PID.KIND., which tells
// CleanTemp whose it is (WRITER is tempWriter's).
func tempPrefix(id, kind string) string {
	return fmt.Sprintf("%s.%s.%d.%s.", id, tempWriter(), os.Getpid(), kind)
}

// tempWriter names where this process's PIDs mean something:
// HOST~BOOT~PIDNS, the host name (characters a file name or a glob could
// misread replaced), the kernel's boot and the PID namespace. Two nodes
// named alike (cloned images, containers) differ in their boot, two
// containers of one kernel in their PID namespace, and a PID is only
// looked up where the name says it was taken.
var tempWriter = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown"
	}
	host = strings.Map(func(r rune) rune {
		if r == '-' || r == '.' || r == '_' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') {
			return r
		}
		return '_'
	}, host)
	boot := strings.ReplaceAll(bootID(), "-", "")
	if len(boot) > 12 {
		boot = boot[:12]
	}
	ns, _ := os.Readlink("/proc/self/ns/pid") // pid:[4026531836]
	ns = strings.Trim(strings.TrimPrefix(ns, "pid:"), "[]")
	return host + "~" + boot + "~" + ns
})

// crashedTemp reports whether path, a temp file or dir of id, is a
// crashed writer's (see CleanTemp).
func crashedTemp(path, id string) bool {
	parts := strings.Split(strings.TrimPrefix(filepath.Base(path), id+"."), ".")
	if n := len(parts); n >= 4 {
		pid, err := strconv.Atoi(parts[n-3])
		writer := strings.Join(parts[:n-3], ".")
		if err == nil && pid > 0 && writer == tempWriter() && pid != os.Getpid() && errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
			return true
		}
	}
	return unchangedFor(path, tempGrace)
}

// unchangedFor reports whether neither path nor, for a dir, anything
// directly in it changed in the last d.
func unchangedFor(path string, d time.Duration) bool {
	info, err := os.Lstat(path)
	if err != nil {
		return false
	}
	newest := info.ModTime()
	if info.IsDir() {
		ents, _ := os.ReadDir(path)
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && fi.ModTime().After(newest) {
				newest = fi.ModTime()
			}
		}
	}
	return time.Since(newest) > d
}

// Publish packs the env at prefix into a new entry and publishes it
// atomically. If another publisher won, its entry stays and Publish returns
// nil: the entries are equivalent.
func (c Cache) Publish(meta *Meta, l *solver.Lock, prefix string) (*Manifest, error) {
	if c.ReadOnly {
		return nil, c.readOnly("publish env " + meta.ID)
	}
	tmp, err := os.MkdirTemp(filepath.Join(c.Root, "tmp"), tempPrefix(meta.ID, "pack"))
	if err != nil {
		return nil, fmt.Errorf("failed to publish env %s: %w", meta.ID, err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	f, err := os.Create(filepath.Join(tmp, archiveName))
	if err != nil {
		return nil, fmt.Errorf("failed to publish env %s: %w", meta.ID, err)
	}
	m, err := Pack(prefix, f)
	if err == nil {
		err = f.Chmod(0o644) // whatever the umask: a site or group cache's readers need it
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("failed to publish env %s: %w", meta.ID, err)
	}
	if info, err := os.Stat(filepath.Join(tmp, archiveName)); err == nil {
		meta.ArchiveBytes = info.Size()
	}
	meta.PackSeconds = time.Since(start).Seconds()
	meta.Files, meta.Bytes = m.Count(), m.Bytes
	lockData, err := l.Marshal()
	if err != nil {
		return nil, err
	}
	var index bytes.Buffer
	if err := gob.NewEncoder(&index).Encode(m); err != nil {
		return nil, fmt.Errorf("failed to publish env %s: %w", meta.ID, err)
	}
	manifest, _ := json.MarshalIndent(m, "", " ")
	metaData, _ := json.MarshalIndent(meta, "", " ")
	for name, data := range map[string][]byte{manifestName: manifest, indexName: index.Bytes(), metaName: metaData, lockName: lockData} {
		if err := writeReadable(filepath.Join(tmp, name), data); err != nil {
			return nil, fmt.Errorf("failed to publish env %s: %w", meta.ID, err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("failed to publish env %s: %w", meta.ID, err)
	}
	syncDir(tmp)
	if err := renameNoReplace(tmp, c.Entry(meta.ID)); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("failed to publish env %s: %w", meta.ID, err)
	}
	syncDir(filepath.Dir(c.Entry(meta.ID)))
	return m, nil
}

// writeReadable writes a new file of mode 0644 whatever the umask, and
// syncs it: it is published by a rename, which must not reach the disk
// before the data does (after a crash, an entry would be there, damaged).
func writeReadable(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir syncs directory dir, so that what was made in it, or renamed
// into it, is on disk. Best effort: some filesystems cannot sync a
// directory, and the data it names is synced already.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		f.Close()
	}
}

// renameNoReplace renames a directory into place unless the destination
// exists. Where renameat2 is missing, a plain rename of a directory onto a
// non-empty one fails anyway, which gives the same guarantee for entries.
func renameNoReplace(src, dst string) error {
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		err = os.Rename(src, dst)
	}
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
		return fs.ErrExist
	}
	return err
}

// Touch records that entry id was used now. Best effort: a read-only cache
// simply keeps its old times.
func (c Cache) Touch(id string) {
	if c.ReadOnly {
		return // its entries' times are the admins'
	}
	p := filepath.Join(c.Entry(id), lastUsedName)
	now := time.Now()
	if err := os.Chtimes(p, now, now); errors.Is(err, fs.ErrNotExist) {
		if f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			f.Close()
		}
	}
}

// LastUsed returns when entry id was last used (or created).
func (c Cache) LastUsed(id string) time.Time {
	for _, name := range []string{lastUsedName, metaName} {
		if info, err := os.Stat(filepath.Join(c.Entry(id), name)); err == nil {
			return info.ModTime()
		}
	}
	return time.Time{}
}

// List returns every published entry's metadata, newest first. An entry
// that cannot be used is listed too, with only ID and Damaged set, so that
// it can be seen and removed.
func (c Cache) List() ([]*Meta, error) {
	dirs, err := os.ReadDir(filepath.Join(c.Root, "envs"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("failed to list cache: %w", err)
	}
	var out []*Meta
	for _, d := range dirs {
		if !ValidID(d.Name()) {
			continue
		}
		m, err := c.Meta(d.Name())
		if err != nil {
			m = &Meta{ID: d.Name(), Damaged: err.Error(), Untrusted: errors.Is(err, ErrUntrusted)}
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Remove unpublishes entry id: it is renamed out of envs/ first, so no
// reader ever sees it half-deleted, then deleted.
func (c Cache) Remove(id string) error {
	if !ValidID(id) {
		return fmt.Errorf("failed to remove env: %q is not an env ID", id)
	}
	if c.ReadOnly {
		return c.readOnly("remove env " + id)
	}
	gone := filepath.Join(c.Root, "tmp", tempPrefix(id, "rm")+randomSuffix())
	if err := os.Rename(c.Entry(id), gone); err != nil {
		return fmt.Errorf("failed to remove env %s: %w", id, err)
	}
	return os.RemoveAll(gone)
}

// ValidID reports whether id is an env ID: exactly 16 lowercase hex
// digits. Every ID that comes from outside (arguments, flags, directory
// names) is checked with it before it becomes part of a path.
func ValidID(id string) bool {
	return len(id) == 16 && strings.Trim(id, "0123456789abcdef") == ""
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
