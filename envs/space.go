package envs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A filesystem counts as full when a build step failed and it has less
// than lowBytes (or lowInodes) left and is at least lowUsedPct used: a
// tool's exit status rarely says why it failed (venv prints only
// "ensurepip ... returned non-zero exit status 1"), and a small filesystem
// that is mostly empty must not be blamed for another failure.
const (
	lowBytes   = 64 << 20
	lowInodes  = 1000
	lowUsedPct = 90
)

// SpaceError is a build or pack step that failed on a full filesystem. It
// wraps the step's error; Hint says what to do.
type SpaceError struct {
	Reason  string // "no space left" or "disk quota exceeded"
	FS      FSInfo
	When    string // "" (measured after the failure) or "before packing"
	Setting string // the setting that moves the work elsewhere: stage_dir or cache_dir
	Err     error
}

func (e *SpaceError) Error() string {
	return fmt.Sprintf("%s on %s (%s): %v", e.Reason, e.FS.Where(), e.FS.Free(e.When), e.Err)
}

func (e *SpaceError) Unwrap() error { return e.Err }

// Hint is one line on how to make room.
func (e *SpaceError) Hint() string {
	return fmt.Sprintf("free space on %s (`senv gc` removes envs not used lately), or set %s to a filesystem with more room", e.FS.Mount, e.Setting)
}

// FSInfo is what statfs says of a filesystem, and where it is mounted.
type FSInfo struct {
	Dev, Mount  string // what is mounted where, e.g. /dev/sda1 at /tmp
	Avail, Size uint64 // bytes this user may still write, bytes in all
	Ffree       uint64 // free inodes
	Files       uint64 // inodes in all; 0 when the filesystem does not count them
}

// Where names the filesystem: "DEV at MOUNT".
func (fi FSInfo) Where() string { return fi.Dev + " at " + fi.Mount }

// Free says how much is left, "FREE free of SIZE[ when]; N inodes free".
func (fi FSInfo) Free(when string) string {
	s := humanBytes(int64(fi.Avail)) + " free of " + humanBytes(int64(fi.Size))
	if when != "" {
		s += " " + when
	}
	if fi.Files > 0 {
		s += fmt.Sprintf("; %d inodes free", fi.Ffree)
	}
	return s
}

// low reports whether the filesystem is (nearly) out of space or inodes.
func (fi FSInfo) low() bool {
	full := func(left, total, min uint64) bool { return left < min && left*100 <= total*(100-lowUsedPct) }
	return full(fi.Avail, fi.Size, lowBytes) || (fi.Files > 0 && full(fi.Ffree, fi.Files, lowInodes))
}

// StatFS describes the filesystem holding path, or its nearest existing
// parent (a failed step may have removed path, or never made it).
func StatFS(path string) (FSInfo, error) {
	path = filepath.Clean(path)
	var st unix.Statfs_t
	for {
		err := unix.Statfs(path, &st)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.ENOENT) || filepath.Dir(path) == path {
			return FSInfo{}, fmt.Errorf("failed to statfs %s: %w", path, err)
		}
		path = filepath.Dir(path)
	}
	fi := FSInfo{Avail: st.Bavail * uint64(st.Bsize), Size: st.Blocks * uint64(st.Bsize), Ffree: st.Ffree, Files: st.Files}
	fi.Dev, fi.Mount = mountOf(path)
	return fi, nil
}

// mountOf finds what is mounted where for path in /proc/self/mountinfo:
// the mount of path's device with the longest mount point above path.
// Without mountinfo it names path itself.
func mountOf(path string) (dev, mount string) {
	dev, mount = "?", path
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	var want string
	if info, err := os.Stat(path); err == nil {
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			want = fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
		}
	}
	best := -1
	for _, e := range mountTable() {
		if want != "" && e.MajMin != want {
			continue
		}
		if !within(path, e.Point) || len(e.Point) <= best {
			continue
		}
		best, mount, dev = len(e.Point), e.Point, e.Source
	}
	return dev, mount
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	return dir == "/" || path == dir || strings.HasPrefix(path, dir+"/")
}

// spaceReason is what err, or a tool's output out, says of space: "no
// space left", "disk quota exceeded", or "".
func spaceReason(err error, out string) string {
	switch {
	case errors.Is(err, unix.ENOSPC) || strings.Contains(out, "No space left on device") ||
		strings.Contains(out, "[Errno 28]") || strings.Contains(out, "os error 28"):
		return "no space left"
	case errors.Is(err, unix.EDQUOT) || strings.Contains(out, "Disk quota exceeded") ||
		strings.Contains(out, "[Errno 122]") || strings.Contains(out, "os error 122"):
		return "disk quota exceeded"
	}
	return ""
}

// buildSpaceError returns a build step's error err as a *SpaceError when
// the step failed for want of room: the tool said so (err, or its output
// out), or one of the filesystems of paths is full. Call it before
// removing what the step wrote, or the filesystem looks roomy again. When
// the tool said so but no filesystem looks full, it names the one with
// the least room. Otherwise it returns nil.
func buildSpaceError(err error, out string, paths ...string) *SpaceError {
	reason := spaceReason(err, out)
	var least *FSInfo
	for _, p := range paths {
		fi, serr := StatFS(p)
		if serr != nil {
			continue
		}
		if fi.low() {
			least = &fi
			break
		}
		if reason != "" && (least == nil || fi.Avail < least.Avail) {
			least = &fi
		}
	}
	if least == nil || (reason == "" && !least.low()) {
		return nil
	}
	if reason == "" {
		reason = "no space left"
	}
	return &SpaceError{Reason: reason, FS: *least, Setting: "stage_dir", Err: err}
}

// packSpaceError returns a pack step's error err as a *SpaceError when it
// ran out of room on the cache's filesystem, before (as measured before
// packing: the packer removes its partial archive). Otherwise nil.
func packSpaceError(err error, before FSInfo) *SpaceError {
	reason := spaceReason(err, "")
	if reason == "" || before.Mount == "" {
		return nil
	}
	return &SpaceError{Reason: reason, FS: before, When: "before packing", Setting: "cache_dir", Err: err}
}
