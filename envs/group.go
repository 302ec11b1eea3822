package envs

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// A cache dir that its group may write (a lab's `chmod 2770` dir) is shared
// by the group: every member creates build locks and temp dirs in v1/build/
// and v1/tmp/, and publishes into v1/envs/ and v1/locks/. Directories and
// lock files are created with fixed modes, which the umask then trims to
// 0750 and 0640 or 0644 whatever the umask, so a second member could neither
// create nor open them. groupShared, shareDir and shareFile give them the
// group's write bit back, only where the cache dir itself grants the group
// write access: a private cache stays as it was.

// groupShared reports whether the group of the cache dir above root may
// write to it.
func groupShared(root string) bool {
	info, err := os.Stat(filepath.Dir(root))
	return err == nil && info.Mode().Perm()&0o020 != 0
}

// shareDir makes dir, if it is ours, writable by its group, and setgid so
// that what is created in it keeps the group. Best effort: another
// member's dir is left alone (they made it shared when they created it).
func shareDir(dir string) {
	info, err := os.Lstat(dir)
	if err != nil || !info.IsDir() || !ours(info) {
		return
	}
	if want := info.Mode().Perm() | 0o070; want != info.Mode().Perm() || info.Mode()&fs.ModeSetgid == 0 {
		_ = os.Chmod(dir, want|fs.ModeSetgid)
	}
}

// shareFile creates the lock file at path, if it is missing, readable and
// writable by its group (flock needs a descriptor, which lockFile opens
// for reading and writing).
func shareFile(path string) {
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o660)
	if err != nil {
		return // there already (lockFile opens it), or lockFile will say why not
	}
	_ = unix.Fchmod(fd, 0o664)
	unix.Close(fd)
}

func ours(info fs.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return int(st.Uid) == os.Getuid()
}
