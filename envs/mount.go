package envs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Mounts is the node-local, root-owned directory where the root Prolog
// mounts env images instead of staging them:
//
//	DIR/ID/                the image of env ID, mounted read-only, nosuid, nodev
//	DIR/.senv/ID.lock      one mounter per node at a time
//	DIR/.senv/ID.job.J     Slurm job J uses the mount (its lease): the Epilog
//	                       unmounts the image when no job is left
//	DIR/.senv/ID.verified  the image's sha256 was checked on this node, for
//	                       the file of that device, inode, size, mtime and ctime
//	DIR/.senv/ID.idle      no job has held the mount since this file's mtime:
//	                       an Epilog unmounts the image Keep after that (a
//	                       busy image's record is dated 1970: due at once)
//
// Only root writes here, and root mounts only images that a trusted site
// tier holds (a kernel file system driver parsing a file that a user wrote
// is attack surface). Users read the mount: see Mounted.
type Mounts struct {
	// Dir is mount_dir.
	Dir string
	// Keep is how long an image no job holds stays mounted, for the node's
	// next jobs of the env (their imports find its files in the page cache
	// instead of decompressing them again); 0 unmounts it at once.
	Keep time.Duration
}

// AdminJob is the lease of a mount made with `senv mount`: the Epilog
// leaves it, `senv umount` removes it.
const AdminJob = "admin"

// OpenMounts opens (creating, mode 0755) the mount dir as root. dir must be
// a real directory owned by root and writable by nobody else, and no one
// untrusted may be able to rename a directory above it (as for a stage
// dir: root-owned, or sticky like /tmp). Its parent must exist.
func OpenMounts(dir string) (Mounts, error) {
	m := Mounts{Dir: dir}
	if os.Geteuid() != 0 {
		return m, fmt.Errorf("failed to open mount dir %s: only root mounts env images (the Prolog does)", dir)
	}
	if !filepath.IsAbs(dir) {
		return m, fmt.Errorf("failed to open mount dir: mount_dir %q is not an absolute path", dir)
	}
	if err := (*Trust)(nil).checkPath(filepath.Dir(dir)); err != nil {
		return m, fmt.Errorf("failed to open mount dir %s: %w", dir, err)
	}
	// .senv is 0711: a job may stat its own lease there (see LeasedMount)
	for _, d := range []string{dir, filepath.Join(dir, ".senv")} {
		perm := fs.FileMode(0o755)
		if d != dir {
			perm = 0o711
		}
		if err := os.Mkdir(d, perm); err != nil && !errors.Is(err, fs.ErrExist) {
			return m, fmt.Errorf("failed to create mount dir: %w", err)
		}
		if err := checkOwnDir(d); err != nil {
			return m, fmt.Errorf("failed to open mount dir: %w", err)
		}
		if err := os.Chmod(d, perm); err != nil {
			return m, fmt.Errorf("failed to open mount dir: %w", err)
		}
	}
	return m, nil
}

// Prefix is where env id's image is mounted.
func (m Mounts) Prefix(id string) string { return filepath.Join(m.Dir, id) }

func (m Mounts) meta(id, ext string) string { return filepath.Join(m.Dir, ".senv", id+"."+ext) }

// Mount mounts the image of entry id of c at Prefix(id) for job, unless it
// is mounted already, and records job's lease on it. Before the first mount
// on this node it checks the image against image.json (the sha256 of each
// of its blocks, on every core); a later mount of the same file (device,
// inode, size, mtime, ctime) does not read it again. A mount that is there
// already (another job's, or one kept idle) is leased only if the cache's
// image file is still the one this node checked, or passes the check again
// (reading the whole image: any change of its stamp, a chmod included,
// costs one such read per node). It refuses an image made for another
// mount dir.
// It reports whether it mounted (false: already mounted).
func (m Mounts) Mount(ctx context.Context, c Cache, id, job string, timeout time.Duration) (bool, error) {
	if !validJob(job) && job != AdminJob {
		return false, fmt.Errorf("failed to mount env %s: %q is not a Slurm job ID", id, job)
	}
	l, err := lockFile(m.meta(id, "lock"), unix.LOCK_EX, timeout, nil)
	if err != nil {
		return false, fmt.Errorf("failed to mount env %s: %w", id, err)
	}
	defer l.Release()
	f, img, err := m.checked(ctx, c, id)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := m.lease(id, job); err != nil {
		return false, err
	}
	_ = os.Remove(m.meta(id, "idle")) // held again
	if Mounted(m.Dir, id) {
		return false, nil
	}
	if err := m.mount(f, img, id); err != nil {
		_ = os.Remove(m.meta(id, "job."+job))
		return false, err
	}
	return true, nil
}

func (m Mounts) lease(id, job string) error {
	f, err := os.OpenFile(m.meta(id, "job."+job), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("failed to mount env %s: %w", id, err)
	}
	return f.Close()
}

// checked opens entry id's image in c, made for this mount dir and checked
// by verify.
func (m Mounts) checked(ctx context.Context, c Cache, id string) (*os.File, *Image, error) {
	img, err := c.Image(id)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to mount env %s: %w", id, err)
	}
	if img.Prefix != m.Prefix(id) {
		return nil, nil, fmt.Errorf("failed to mount env %s: its image was made to be mounted at %s, not at %s "+
			"(the publisher's mount_dir differs from this node's %s; make the image again for it)", id, img.Prefix, m.Prefix(id), m.Dir)
	}
	f, err := c.openImage(id)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to mount env %s: %w", id, err)
	}
	if err := m.verify(ctx, id, f, img); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, img, nil
}

// mount mounts the checked image f at Prefix(id).
func (m Mounts) mount(f *os.File, img *Image, id string) error {
	target := m.Prefix(id)
	if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("failed to mount env %s: %w", id, err)
	}
	if err := checkOwnDir(target); err != nil {
		return fmt.Errorf("failed to mount env %s: %w", id, err)
	}
	if err := mountLoop(f, target, img.Format); err != nil {
		_ = os.Remove(target) // empty: nothing was mounted
		return err
	}
	return nil
}

// verify checks the image f against img's size and sha256, unless this
// node checked this very file before.
func (m Mounts) verify(ctx context.Context, id string, f *os.File, img *Image) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("failed to mount env %s: %w", id, err)
	}
	if st.Size != img.Bytes {
		return fmt.Errorf("failed to mount env %s: its image %s is %d bytes, image.json says %d: %w", id, f.Name(), st.Size, img.Bytes, ErrDamagedEntry)
	}
	// ctime too: a trusted owner who rewrites the file in place can reset
	// its mtime, not its ctime
	stamp := fmt.Sprintf("%s %d %d %d %d %d\n", img.SHA256, st.Dev, st.Ino, st.Size, st.Mtim.Nano(), st.Ctim.Nano())
	if got, err := os.ReadFile(m.meta(id, "verified")); err == nil && string(got) == stamp {
		return nil
	}
	bad, err := checkBlocks(ctx, f, img)
	if err != nil {
		return fmt.Errorf("failed to mount env %s: failed to check its image %s: %w", id, f.Name(), err)
	}
	if bad >= 0 {
		return fmt.Errorf("failed to mount env %s: its image %s does not match the sha256 in image.json of its bytes %d to %d: %w",
			id, f.Name(), int64(bad)*ImageBlock, min(int64(bad+1)*ImageBlock, img.Bytes), ErrDamagedEntry)
	}
	return os.WriteFile(m.meta(id, "verified"), []byte(stamp), 0o600)
}

// readerCtx stops a long read (the hash of a big image) at ctx's deadline.
type readerCtx struct {
	ctx context.Context
	r   io.Reader
}

func (r readerCtx) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// mountLoop attaches f to a free loop device (read-only, detached by the
// kernel at unmount) and mounts it read-only, nosuid and nodev at target.
// The loop device is given the descriptor senv checked, not a path.
func mountLoop(f *os.File, target, fstype string) error {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("failed to mount %s: %w", target, err)
	}
	defer ctl.Close()
	for attempt := 0; ; attempt++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return fmt.Errorf("failed to mount %s: no free loop device: %w", target, err)
		}
		dev := fmt.Sprintf("/dev/loop%d", n)
		loop, err := os.OpenFile(dev, os.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("failed to mount %s: %w", target, err)
		}
		err = configureLoop(int(loop.Fd()), int(f.Fd()))
		if errors.Is(err, unix.EBUSY) && attempt < 10 {
			loop.Close() // another process took it between GET_FREE and CONFIGURE
			continue
		}
		if err != nil {
			loop.Close()
			return fmt.Errorf("failed to mount %s: failed to set up %s: %w", target, dev, err)
		}
		err = unix.Mount(dev, target, fstype, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, "")
		if err != nil {
			_ = unix.IoctlSetInt(int(loop.Fd()), unix.LOOP_CLR_FD, 0)
		}
		loop.Close() // autoclear: the device is freed when the mount goes
		if errors.Is(err, unix.EINVAL) && fstype == "squashfs" {
			return fmt.Errorf("failed to mount %s on %s: %w (if the kernel log says the compression is unsupported, this kernel's squashfs lacks lz4, CONFIG_SQUASHFS_LZ4: jobs stage instead)", dev, target, err)
		}
		if err != nil {
			return fmt.Errorf("failed to mount %s on %s: %w", dev, target, err)
		}
		return nil
	}
}

// configureLoop attaches file descriptor fd to loop device loop, read-only
// and detached by the kernel at unmount: with LOOP_CONFIGURE (Linux 5.8),
// else, on older kernels (EL8's 4.18), LOOP_SET_FD and LOOP_SET_STATUS64.
func configureLoop(loop, fd int) error {
	cfg := unix.LoopConfig{Fd: uint32(fd)}
	cfg.Info.Flags = unix.LO_FLAGS_READ_ONLY | unix.LO_FLAGS_AUTOCLEAR
	err := unix.IoctlLoopConfigure(loop, &cfg)
	if !errors.Is(err, unix.ENOTTY) && !errors.Is(err, unix.EINVAL) {
		return err
	}
	if err := unix.IoctlSetInt(loop, unix.LOOP_SET_FD, fd); err != nil {
		return err
	}
	info := unix.LoopInfo64{Flags: unix.LO_FLAGS_READ_ONLY | unix.LO_FLAGS_AUTOCLEAR}
	if err := unix.IoctlLoopSetStatus64(loop, &info); err != nil {
		_ = unix.IoctlSetInt(loop, unix.LOOP_CLR_FD, 0)
		return err
	}
	return nil
}

// Release drops job's leases on this node's mounts, and unmounts each
// image that job held and that no other running job (newJobs answers,
// asked afresh under each image's lock; nil: every recorded job runs) and
// no admin holds, once it has been unused for Keep. It also unmounts the
// images of earlier jobs whose Keep has run out, and retries busy ones.
// logf hears of each unmount. An image no job of this node's Epilogs held
// (a crashed node's) stays until `senv umount`. Each wait for another
// mounter is bounded by wait and by ctx, and Release stops at ctx's end.
func (m Mounts) Release(ctx context.Context, job string, newJobs func() Jobs, wait time.Duration, logf func(string, ...any)) error {
	records, _ := filepath.Glob(filepath.Join(m.Dir, ".senv", "*.job."+job))
	var errs []error
	done := map[string]bool{}
	for _, r := range records {
		id := strings.TrimSuffix(filepath.Base(r), ".job."+job)
		if !ValidID(id) {
			_ = os.Remove(r)
			continue
		}
		done[id] = true
		// first a hint for later Epilogs' sweep, should this one not get
		// to the end: unmountUnused checks every holder under the lock. A
		// hint left while another job holds the image dates its idle time
		// from now, so that job's Epilog may unmount it before Keep: the
		// keep is lost, never a running job's mount.
		m.markIdle(id, false)
		if err := m.unmountUnused(ctx, id, job, newJobs, wait, m.Keep, logf); err != nil {
			errs = append(errs, err)
		}
	}
	idle, _ := filepath.Glob(filepath.Join(m.Dir, ".senv", "*.idle"))
	for _, f := range idle {
		id := strings.TrimSuffix(filepath.Base(f), ".idle")
		if !ValidID(id) || done[id] {
			continue
		}
		st, err := os.Lstat(f)
		if err != nil || (!st.ModTime().After(time.Now()) && time.Since(st.ModTime()) < m.Keep) {
			continue // not due: no squeue for it (a record in the future is: it is reset)
		}
		if err := m.unmountUnused(ctx, id, "", newJobs, wait, m.Keep, logf); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Unmount drops the admin lease of env id, and unmounts it at once if no
// running job holds one.
func (m Mounts) Unmount(id string, newJobs func() Jobs, logf func(string, ...any)) error {
	return m.unmountUnused(context.Background(), id, AdminJob, newJobs, 10*time.Second, 0, logf)
}

// Idle reports whether env id's mount is recorded idle: no job has held it
// since the Epilog of the last one (it stays mounted for Keep).
func (m Mounts) Idle(id string) bool {
	_, err := os.Lstat(m.meta(id, "idle"))
	return err == nil
}

// markIdle records that env id's image may be idle: with due, so that the
// next Epilog's sweep tries it at once (a busy image); else from now, if
// there is no record yet. It reports whether the record is there.
func (m Mounts) markIdle(id string, due bool) bool {
	idle := m.meta(id, "idle")
	if _, err := os.Lstat(idle); err != nil {
		if err := os.WriteFile(idle, nil, 0o644); err != nil {
			return false
		}
	}
	if due {
		return os.Chtimes(idle, time.Unix(0, 0), time.Unix(0, 0)) == nil
	}
	return true
}

// unmountUnused drops ended's lease on env id (a job ID, AdminJob, or ""),
// and unmounts id's image if nothing else holds it and it has been idle
// for keep: the first call that finds it unused records the start of its
// idle time (DIR/.senv/ID.idle) and leaves it mounted. Where that record
// cannot be written, it unmounts at once.
func (m Mounts) unmountUnused(ctx context.Context, id, ended string, newJobs func() Jobs, wait, keep time.Duration, logf func(string, ...any)) error {
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d))
	}
	if ctx.Err() != nil || wait <= 0 {
		return fmt.Errorf("failed to unmount env %s: out of time (the hook's deadline)", id)
	}
	l, err := lockFile(m.meta(id, "lock"), unix.LOCK_EX, wait, nil)
	if err != nil {
		return fmt.Errorf("failed to unmount env %s: %w", id, err)
	}
	defer l.Release()
	if ended != "" {
		_ = os.Remove(m.meta(id, "job."+ended))
	}
	idle := m.meta(id, "idle")
	if !Mounted(m.Dir, id) {
		_ = os.Remove(idle)
		return nil // another Epilog unmounted it
	}
	var jobs Jobs
	if newJobs != nil {
		jobs = newJobs() // asked now, under the lock: a Prolog may have leased it since
	}
	records, _ := filepath.Glob(m.meta(id, "job.*"))
	for _, r := range records {
		holder := strings.TrimPrefix(filepath.Base(r), id+".job.")
		if holder == AdminJob || jobs == nil || jobs.Running(holder) {
			_ = os.Remove(idle)
			return nil
		}
		_ = os.Remove(r)
	}
	target := m.Prefix(id)
	if keep > 0 {
		kept := false
		if st, err := os.Lstat(idle); err != nil {
			kept = m.markIdle(id, false) // else no later Epilog would find it: now
		} else if time.Since(st.ModTime()) < 0 { // the clock went back: idle from now
			kept = os.Chtimes(idle, time.Now(), time.Now()) == nil
		} else {
			kept = time.Since(st.ModTime()) < keep
		}
		if kept {
			if ended != "" && logf != nil {
				logf("env %s: no job holds its image; it stays mounted at %s for mount_keep (%s), until a later epilog", id, target, keep)
			}
			return nil
		}
	}
	if err := unix.Unmount(target, unix.UMOUNT_NOFOLLOW); err != nil {
		if errors.Is(err, unix.EBUSY) {
			if !m.markIdle(id, true) && logf != nil {
				logf("env %s: failed to record its busy image for the next epilog", id)
			}
			if logf != nil {
				logf("env %s: its image at %s is busy; left mounted for the next epilog", id, target)
			}
			return nil
		}
		return fmt.Errorf("failed to unmount %s: %w", target, err)
	}
	_ = os.Remove(target)
	_ = os.Remove(idle)
	if logf != nil {
		logf("unmounted env %s from %s", id, target)
	}
	return nil
}

// LeasedMount reports whether env id is Mounted under dir and leased for
// job (this process's SLURM_JOB_ID; "" outside a job) or by an admin: a
// root-owned record in dir's root-owned .senv. A job uses only a mount it
// holds a lease on, so that no other job's Epilog unmounts it under it.
func LeasedMount(dir, id, job string) bool {
	if !Mounted(dir, id) {
		return false
	}
	var st unix.Stat_t
	meta := filepath.Join(dir, ".senv")
	if unix.Lstat(meta, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != 0 || st.Mode&0o022 != 0 {
		return false
	}
	for _, holder := range []string{job, AdminJob} {
		if holder == "" || (holder != AdminJob && !validJob(holder)) {
			continue
		}
		if unix.Lstat(filepath.Join(meta, id+".job."+holder), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Uid == 0 {
			return true
		}
	}
	return false
}

// Mounted reports whether env id's image is mounted at dir/id for this
// process: dir is a directory owned by root that nobody else can write to,
// and this process's mount table has a read-only squashfs at dir/id. Only
// root can make such a mount, so it is the one the Prolog made after
// checking the image. It costs one stat when nothing is mounted there.
func Mounted(dir, id string) bool {
	if dir == "" || !ValidID(id) {
		return false
	}
	var st unix.Stat_t
	target := filepath.Join(dir, id)
	if unix.Lstat(target, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return false
	}
	if unix.Lstat(dir, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != 0 || st.Mode&0o022 != 0 {
		return false
	}
	found := false
	for _, e := range mountTable() { // the last mount at target is the one seen
		if e.Point == target {
			found = e.FSType == ImageFormat && hasOption(e.Options, "ro")
		}
	}
	return found
}

func hasOption(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// MountedIDs lists the env images mounted under dir for this process, as
// Mounted sees them.
func MountedIDs(dir string) []string {
	var ids []string
	for _, e := range mountTable() {
		if filepath.Dir(e.Point) == filepath.Clean(dir) && Mounted(dir, filepath.Base(e.Point)) {
			ids = append(ids, filepath.Base(e.Point))
		}
	}
	return ids
}

// KernelHasSquashfs reports whether the running kernel has the squashfs
// driver loaded (/proc/filesystems). A driver built as a module that is
// not loaded yet is loaded by the first mount, so false is a warning.
func KernelHasSquashfs() bool {
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(strings.TrimPrefix(line, "nodev")) == ImageFormat {
			return true
		}
	}
	return false
}
