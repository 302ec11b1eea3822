package envs

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrUntrusted marks a refusal: a file or directory senv would run or read
// an env from can be changed by someone the user does not trust. Test for
// it with errors.Is.
var ErrUntrusted = errors.New("untrusted")

// untrustedError is a refusal, with its reason and the fix.
type untrustedError struct{ msg string }

func (e *untrustedError) Error() string        { return e.msg }
func (e *untrustedError) Is(target error) bool { return target == ErrUntrusted }

func untrusted(format string, args ...any) error {
	return &untrustedError{fmt.Sprintf(format, args...)}
}

// Trust says whose files senv runs: the user's own, root's, and those of
// the owners named in the trusted_owners setting. A nil *Trust trusts only
// the user and root. It is safe for concurrent use.
//
// Everything senv executes comes from a path: the job runs PREFIX/bin/python
// long after senv has looked at it. Checking a file once, or holding a
// descriptor to it, does not protect that later lookup; what does is that
// nobody untrusted can change what the path names. So senv checks the path
// itself, like OpenSSH's StrictModes and sudo's secure path: every
// directory from / down, every symlink on the way and the file at the end
// must be owned by a trusted user, and none may be writable by anyone else
// (group-writable is fine when the group is trusted; world- or
// group-writable is fine on a sticky directory such as /tmp, whose entries
// only their owners can rename, as long as the next component is checked
// in turn). Checked from / down, each check is of a directory no untrusted
// user can replace, so the checks cannot be raced.
type Trust struct {
	users  map[uint32]string // trusted owners besides the user and root
	groups map[uint32]string // trusted groups: their members, and what the group may write

	mu     sync.Mutex
	member map[uint32]bool // memo: is this uid in a trusted group?
}

// NewTrust reads trusted_owners entries: a user name or uid ("alice",
// "1001"), or a group ("group:hpclab", "group:2000"). Trusting a group
// trusts the files of its members and lets it write to the cache.
func NewTrust(owners []string) (*Trust, error) {
	t := &Trust{users: map[uint32]string{}, groups: map[uint32]string{}, member: map[uint32]bool{}}
	for _, o := range owners {
		if g, ok := strings.CutPrefix(o, "group:"); ok {
			gid, err := lookupGroup(g)
			if err != nil {
				return nil, fmt.Errorf("failed to read trusted_owners %q: %w", o, err)
			}
			t.groups[gid] = g
			continue
		}
		uid, err := lookupUser(o)
		if err != nil {
			return nil, fmt.Errorf("failed to read trusted_owners %q: %w", o, err)
		}
		t.users[uid] = o
	}
	return t, nil
}

func lookupUser(name string) (uint32, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(u.Uid, 10, 32)
	return uint32(n), err
}

func lookupGroup(name string) (uint32, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(g.Gid, 10, 32)
	return uint32(n), err
}

// owner reports whether files owned by uid are trusted.
func (t *Trust) owner(uid uint32) bool {
	if uid == 0 || int(uid) == os.Getuid() {
		return true
	}
	if t == nil {
		return false
	}
	if _, ok := t.users[uid]; ok {
		return true
	}
	if len(t.groups) == 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if in, ok := t.member[uid]; ok {
		return in
	}
	in := false
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		gids, _ := u.GroupIds()
		for _, g := range append(gids, u.Gid) {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil && t.groups[uint32(n)] != "" {
				in = true
			}
		}
	}
	t.member[uid] = in
	return in
}

// group reports whether a group may write to what senv runs.
func (t *Trust) group(gid uint32) bool {
	return t != nil && t.groups[gid] != ""
}

// check refuses st (of path) unless a trusted user owns it and nobody
// untrusted can write to it. A sticky directory may be writable by others:
// they cannot rename what they do not own in it.
func (t *Trust) check(path string, st *unix.Stat_t) error {
	mode := st.Mode
	if !t.owner(st.Uid) {
		name := userName(st.Uid)
		return untrusted("refusing %s: it is owned by %s (uid %d), whom you do not trust; "+
			"if %s may publish envs that you run, add %q to trusted_owners in your senv config", path, name, st.Uid, name, name)
	}
	if mode&unix.S_IFMT == unix.S_IFLNK || (mode&unix.S_IFMT == unix.S_IFDIR && mode&unix.S_ISVTX != 0) {
		return nil
	}
	if mode&0o002 != 0 {
		return untrusted("refusing %s: anyone can write to it (mode %04o; chmod o-w it, or choose another dir)", path, mode&0o7777)
	}
	if mode&0o020 != 0 && !t.group(st.Gid) {
		g := groupName(st.Gid)
		return untrusted("refusing %s: group %s (gid %d) can write to it (mode %04o); "+
			"chmod g-w it, or, if every member of %s may publish envs that you run, add \"group:%s\" to trusted_owners in your senv config",
			path, g, st.Gid, mode&0o7777, g, g)
	}
	return nil
}

// maxLinks bounds the symlinks checkPath follows, as the kernel does.
const maxLinks = 40

// checkPath checks that nobody untrusted can change what path names: each
// directory from / down, each symlink on the way (and the directories of
// its target) and the last component. See Trust for why this is what
// makes a later exec by path safe.
func (t *Trust) checkPath(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("failed to check %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat("/", &st); err != nil {
		return fmt.Errorf("failed to check /: %w", err)
	}
	if err := t.check("/", &st); err != nil {
		return err
	}
	cur, todo, links := "/", splitPath(abs), 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur) // checked already, on the way down
			continue
		}
		next := filepath.Join(cur, name)
		if err := unix.Lstat(next, &st); err != nil {
			return fmt.Errorf("failed to check %s: %w", next, &os.PathError{Op: "lstat", Path: next, Err: err})
		}
		if err := t.check(next, &st); err != nil {
			return err
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			if links++; links > maxLinks {
				return fmt.Errorf("failed to check %s: too many symlinks", path)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return fmt.Errorf("failed to check %s: %w", next, err)
			}
			if filepath.IsAbs(target) {
				cur = "/"
			}
			todo = append(splitPath(target), todo...)
		case unix.S_IFDIR:
			cur = next
		default:
			if len(todo) > 0 {
				return fmt.Errorf("failed to check %s: %s is not a directory", path, next)
			}
		}
	}
	return nil
}

func splitPath(p string) []string { return strings.Split(p, "/") }

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		return u.Username
	}
	return strconv.Itoa(int(uid))
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		return g.Name
	}
	return strconv.Itoa(int(gid))
}
