package envs

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// needMounts skips unless this test can make real kernel mounts: root,
// mksquashfs, a loop device. In CI (run as root, squashfs-tools installed)
// a skip is a failure.
func needMounts(t *testing.T) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root (kernel mounts)"
	} else if _, err := exec.LookPath(ImageTool); err != nil {
		why = "needs " + ImageTool + " (squashfs-tools)"
	} else if _, err := os.Stat("/dev/loop-control"); err != nil {
		why = "needs /dev/loop-control"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; .ci/run runs as root and installs squashfs-tools", why)
	}
	t.Skip(why)
}

// imageEntry publishes relocTree's env into a new site dir with its image,
// made for mountDir, and returns the site tier and the ID.
func imageEntry(t *testing.T, mountDir string) (Cache, string) {
	t.Helper()
	dir, id := siteWithEntry(t)
	admin, err := OpenCache(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	img, err := admin.PublishImage(context.Background(), id, mountDir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(mountDir, id); img.Prefix != want {
		t.Fatalf("image prefix %q, want %q", img.Prefix, want)
	}
	out, err := exec.Command("sha256sum", filepath.Join(admin.Entry(id), imageDir, imageName)).Output()
	if err != nil || !strings.HasPrefix(string(out), img.SHA256+" ") {
		t.Fatalf("image.json says sha256 %s, sha256sum %s (%v)", img.SHA256, out, err)
	}
	if info, err := os.Stat(filepath.Join(admin.Entry(id), imageDir, imageName)); err != nil || info.Size() != img.Bytes || len(img.Blocks) != 1 {
		t.Fatalf("image.json says %d bytes in %d blocks, the file: %v, %v", img.Bytes, len(img.Blocks), info, err)
	}
	// the superblock: magic "hsqs", then the compression id at byte 20 (5: lz4)
	if sb, err := os.ReadFile(filepath.Join(admin.Entry(id), imageDir, imageName)); err != nil || len(sb) < 22 ||
		string(sb[:4]) != "hsqs" || sb[20] != 5 || sb[21] != 0 {
		t.Fatalf("the image is not squashfs lz4 (superblock % x, %v)", sb[:min(len(sb), 22)], err)
	}
	again, err := admin.PublishImage(context.Background(), id, mountDir)
	if err != nil || again.SHA256 != img.SHA256 || !again.Created.Equal(img.Created) {
		t.Fatalf("a second PublishImage made another image (%v, %v)", again, err)
	}
	site, err := OpenSiteCache(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return site, id
}

// unmountAtEnd detaches whatever is still mounted at target when the test
// ends (a failed test must not leave a mount behind).
func unmountAtEnd(t *testing.T, target string) {
	t.Cleanup(func() {
		for unix.Unmount(target, unix.MNT_DETACH) == nil {
		}
	})
}

// mountFixture publishes an env with its image into a new site tier, made
// for a new mount dir, and opens that mount dir; whatever is mounted for the
// env when the test ends is detached.
func mountFixture(t *testing.T) (Mounts, Cache, string) {
	t.Helper()
	needMounts(t)
	mountDir := filepath.Join(t.TempDir(), "mnt")
	site, id := imageEntry(t, mountDir)
	mounts, err := OpenMounts(mountDir)
	if err != nil {
		t.Fatal(err)
	}
	unmountAtEnd(t, mounts.Prefix(id))
	return mounts, site, id
}

// TestImageMount: an env's image, published into a site tier, is mounted
// read-only at mount_dir/ID with its files relocated there; Mounted sees it
// (and only a root-owned mount dir's squashfs); each job's lease keeps it
// mounted until the last job's Release unmounts it.
func TestImageMount(t *testing.T) {
	mounts, site, id := mountFixture(t)
	mountDir, target := mounts.Dir, mounts.Prefix(id)
	if Mounted(mountDir, id) {
		t.Fatal("Mounted before the mount")
	}
	ctx := context.Background()
	if mounted, err := mounts.Mount(ctx, site, id, "101", time.Second); err != nil || !mounted {
		t.Fatalf("Mount = %v, %v; want true, nil", mounted, err)
	}
	if !Mounted(mountDir, id) {
		t.Fatal("not Mounted after the mount")
	}
	tool, err := os.ReadFile(filepath.Join(target, "bin", "tool"))
	if err != nil || !strings.HasPrefix(string(tool), "#!"+target+"/bin/python\n") {
		t.Errorf("bin/tool in the image = %q, %v; want it relocated to %s", tool, err, target)
	}
	if link, err := os.Readlink(filepath.Join(target, "bin", "abs")); err != nil || link != target+"/bin/tool" {
		t.Errorf("bin/abs -> %q, %v; want %s/bin/tool", link, err, target)
	}
	if err := os.WriteFile(filepath.Join(target, "new"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("writing into the mount: %v, want EROFS", err)
	}
	if mounted, err := mounts.Mount(ctx, site, id, "102", time.Second); err != nil || mounted {
		t.Fatalf("second job's Mount = %v, %v; want false (mounted already), nil", mounted, err)
	}
	// a job uses only a mount it holds a lease on
	for job, want := range map[string]bool{"101": true, "102": true, "999": false, "": false, "../x": false} {
		if got := LeasedMount(mountDir, id, job); got != want {
			t.Errorf("LeasedMount for job %q = %v, want %v", job, got, want)
		}
	}

	// Mounted trusts only a root-owned mount dir
	if err := os.Chown(mountDir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if Mounted(mountDir, id) {
		t.Error("Mounted with a mount dir owned by nobody")
	}
	if err := os.Chown(mountDir, 0, 0); err != nil {
		t.Fatal(err)
	}

	if err := mounts.Release(ctx, "101", nil, time.Second, t.Logf); err != nil || !Mounted(mountDir, id) {
		t.Fatalf("after job 101's Release (job 102 holds it): mounted %v, %v; want mounted", Mounted(mountDir, id), err)
	}
	if err := mounts.Release(ctx, "102", nil, time.Second, t.Logf); err != nil || Mounted(mountDir, id) {
		t.Fatalf("after the last job's Release: mounted %v, %v; want unmounted", Mounted(mountDir, id), err)
	}
	if _, err := os.Stat(target); err == nil {
		t.Error("the mount point is left after the unmount")
	}
	// a second mount reads the stamp, not the image, and works the same
	if mounted, err := mounts.Mount(ctx, site, id, AdminJob, time.Second); err != nil || !mounted {
		t.Fatalf("admin Mount = %v, %v", mounted, err)
	}
	if err := mounts.Release(ctx, "103", nil, time.Second, t.Logf); err != nil || !Mounted(mountDir, id) {
		t.Fatal("a job's Release unmounted an admin mount")
	}
	if !LeasedMount(mountDir, id, "") || !LeasedMount(mountDir, id, "555") {
		t.Error("an admin mount is not leased for every process")
	}
	if err := mounts.Unmount(id, nil, t.Logf); err != nil || Mounted(mountDir, id) {
		t.Fatalf("Unmount: mounted %v, %v", Mounted(mountDir, id), err)
	}
}

// TestMountKeep: with Keep, the last job's Release leaves the image
// mounted and records when it became idle; a new job's Mount finds it
// mounted and holds it again; a later Release (of a job that never used
// it) unmounts it once Keep has passed since then, and not before.
func TestMountKeep(t *testing.T) {
	mounts, site, id := mountFixture(t)
	mountDir := mounts.Dir
	mounts.Keep = time.Hour
	idle := filepath.Join(mountDir, ".senv", id+".idle")
	ctx := context.Background()
	if _, err := mounts.Mount(ctx, site, id, "201", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := mounts.Release(ctx, "201", nil, time.Second, t.Logf); err != nil || !Mounted(mountDir, id) {
		t.Fatalf("after the last job's Release with Keep: mounted %v, %v; want kept mounted", Mounted(mountDir, id), err)
	}
	if _, err := os.Stat(idle); err != nil || !mounts.Idle(id) {
		t.Fatalf("no idle record after the last job: %v (Idle %v)", err, mounts.Idle(id))
	}
	if LeasedMount(mountDir, id, "201") {
		t.Error("the ended job still holds a lease on the kept mount")
	}
	// the next job of the env on the node: no mount, a lease, not idle
	if mounted, err := mounts.Mount(ctx, site, id, "202", time.Second); err != nil || mounted || !LeasedMount(mountDir, id, "202") {
		t.Fatalf("Mount of a kept image = %v, %v (leased %v); want false, nil, leased", mounted, err, LeasedMount(mountDir, id, "202"))
	}
	if _, err := os.Stat(idle); err == nil || mounts.Idle(id) {
		t.Error("the idle record is left while job 202 holds the image")
	}
	if err := mounts.Release(ctx, "202", nil, time.Second, t.Logf); err != nil || !Mounted(mountDir, id) {
		t.Fatalf("job 202's Release: mounted %v, %v; want kept", Mounted(mountDir, id), err)
	}
	for _, tc := range []struct {
		name    string
		idleFor time.Duration
		mounted bool
	}{
		{"idle for less than Keep", 59 * time.Minute, true},
		{"idle for Keep", 61 * time.Minute, false},
	} {
		then := time.Now().Add(-tc.idleFor)
		if err := os.Chtimes(idle, then, then); err != nil {
			t.Fatal(err)
		}
		// job 300 never used the image: its Epilog collects the idle one
		if err := mounts.Release(ctx, "300", nil, time.Second, t.Logf); err != nil || Mounted(mountDir, id) != tc.mounted {
			t.Fatalf("%s: after another job's Release mounted %v, %v; want %v", tc.name, Mounted(mountDir, id), err, tc.mounted)
		}
	}
	if _, err := os.Stat(idle); err == nil {
		t.Error("the idle record is left after the unmount")
	}
	if _, err := os.Stat(mounts.Prefix(id)); err == nil {
		t.Error("the mount point is left after the unmount")
	}
}

// TestMountKeepEdges: how the idle record and the unmount behave at the
// edges: an admin's umount does not wait for Keep; a busy image is retried
// by the next Epilog at once; a record dated in the future (a clock set
// back) is reset to now instead of keeping the image that much longer; the
// check under the lock keeps a fresh idle image; a kept mount whose image
// file changed is not leased again.
func TestMountKeepEdges(t *testing.T) {
	mounts, site, id := mountFixture(t)
	mountDir, target := mounts.Dir, mounts.Prefix(id)
	idle := filepath.Join(mountDir, ".senv", id+".idle")
	ctx := context.Background()
	setIdle := func(ago time.Duration) {
		then := time.Now().Add(-ago)
		if err := os.Chtimes(idle, then, then); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		keep time.Duration
		// run acts on the image that job "401" mounted (and Release dropped,
		// unless it says otherwise) and reports what the test checks next
		run         func(t *testing.T, m Mounts)
		mounted     bool
		idleRecord  bool
		idleMaxDiff time.Duration // with idleRecord: its age is within this of 0 (0: not checked)
	}{
		{"admin umount does not wait for Keep", time.Hour, func(t *testing.T, m Mounts) {
			if _, err := m.Mount(ctx, site, id, AdminJob, time.Second); err != nil {
				t.Fatal(err)
			}
			if err := m.Unmount(id, nil, t.Logf); err != nil {
				t.Fatal(err)
			}
		}, false, false, 0},
		{"a busy image is due for the next epilog at once", 0, func(t *testing.T, m Mounts) {
			if _, err := m.Mount(ctx, site, id, "402", time.Second); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(filepath.Join(target, "bin", "tool"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := m.Release(ctx, "402", nil, time.Second, t.Logf); err != nil || !Mounted(mountDir, id) {
				t.Fatalf("a busy image's Release: mounted %v, %v; want left mounted", Mounted(mountDir, id), err)
			}
			if st, err := os.Stat(idle); err != nil || st.ModTime().Unix() != 0 {
				t.Fatalf("the busy image's idle record: %v, %v; want one dated 1970 (due at once)", st, err)
			}
			f.Close()
			if err := m.Release(ctx, "403", nil, time.Second, t.Logf); err != nil {
				t.Fatal(err)
			}
		}, false, false, 0},
		{"a record in the future is reset to now by any later epilog", time.Hour, func(t *testing.T, m Mounts) {
			setIdle(-24 * time.Hour)
			if err := m.Release(ctx, "405", nil, time.Second, t.Logf); err != nil {
				t.Fatal(err)
			}
		}, true, true, time.Minute},
		{"an epilog that cannot get the lock leaves a hint that a later one collects", 0, func(t *testing.T, m Mounts) {
			if _, err := m.Mount(ctx, site, id, "406", time.Second); err != nil {
				t.Fatal(err)
			}
			l, err := lockFile(m.meta(id, "lock"), unix.LOCK_EX, time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Release(ctx, "406", nil, 100*time.Millisecond, t.Logf); err == nil {
				t.Error("Release while another holds the image's lock reported no error")
			}
			l.Release()
			_, lease := os.Stat(m.meta(id, "job.406"))
			_, hint := os.Stat(idle)
			if lease != nil || hint != nil || !Mounted(mountDir, id) {
				t.Fatalf("after a Release that timed out: lease %v, hint %v, mounted %v; want both records, mounted", lease, hint, Mounted(mountDir, id))
			}
			// job 407 never used the image; Slurm says job 406 ended
			if err := m.Release(ctx, "407", func() Jobs { return fakeJobs{} }, time.Second, t.Logf); err != nil {
				t.Fatal(err)
			}
		}, false, false, 0},
		{"the check under the lock keeps a fresh idle image", time.Hour, func(t *testing.T, m Mounts) {
			setIdle(59 * time.Minute)
			if err := m.unmountUnused(ctx, id, "", nil, time.Second, m.Keep, t.Logf); err != nil {
				t.Fatal(err)
			}
		}, true, true, 0},
		{"a kept mount whose image changed is not leased", time.Hour, func(t *testing.T, m Mounts) {
			file := filepath.Join(site.Entry(id), imageDir, imageName)
			fh, err := os.OpenFile(file, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1)
			if _, err := fh.ReadAt(b, 200); err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0xff
			if _, err := fh.WriteAt(b, 200); err != nil {
				t.Fatal(err)
			}
			defer func() { // mend it for the cases after this one
				b[0] ^= 0xff
				if _, err := fh.WriteAt(b, 200); err != nil {
					t.Fatal(err)
				}
				fh.Close()
			}()
			if _, err := m.Mount(ctx, site, id, "404", time.Second); !errors.Is(err, ErrDamagedEntry) {
				t.Fatalf("Mount of a kept image whose file changed: %v, want ErrDamagedEntry", err)
			}
			if LeasedMount(mountDir, id, "404") {
				t.Error("job 404 holds a lease on a mount whose image failed its check")
			}
		}, true, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mounts
			m.Keep = tc.keep
			if !Mounted(mountDir, id) {
				if _, err := m.Mount(ctx, site, id, "401", time.Second); err != nil {
					t.Fatal(err)
				}
			}
			if err := m.Release(ctx, "401", nil, time.Second, t.Logf); err != nil {
				t.Fatal(err)
			}
			if tc.keep > 0 != Mounted(mountDir, id) {
				t.Fatalf("after the last job's Release with Keep %s: mounted %v", tc.keep, Mounted(mountDir, id))
			}
			tc.run(t, m)
			if got := Mounted(mountDir, id); got != tc.mounted {
				t.Errorf("mounted %v, want %v", got, tc.mounted)
			}
			st, err := os.Stat(idle)
			if (err == nil) != tc.idleRecord {
				t.Errorf("idle record: %v, want one: %v", err, tc.idleRecord)
			}
			if err == nil && tc.idleMaxDiff > 0 && time.Since(st.ModTime()).Abs() > tc.idleMaxDiff {
				t.Errorf("idle record dated %s, want within %s of now", st.ModTime(), tc.idleMaxDiff)
			}
		})
	}
}

// TestMountedOnlySquashfs: something else mounted at mount_dir/ID (a tmpfs
// that root made) is not an env image.
func TestMountedOnlySquashfs(t *testing.T) {
	needMounts(t)
	dir := t.TempDir()
	const id = "0123456789abcdef"
	target := filepath.Join(dir, id)
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if Mounted(dir, id) {
		t.Fatal("Mounted of a plain dir")
	}
	if err := unix.Mount("tmpfs", target, "tmpfs", unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	unmountAtEnd(t, target)
	if Mounted(dir, id) {
		t.Error("Mounted of a read-only tmpfs")
	}
}

// TestMountRefused: an image that does not match its image.json, or that
// was made for another mount dir, is not mounted, and the job's lease is
// not left behind.
func TestMountRefused(t *testing.T) {
	needMounts(t)
	for _, tc := range []struct {
		name    string
		breakIt func(t *testing.T, image string)
		other   bool // mount at another mount dir than the image's
		want    string
	}{
		{"flipped byte", func(t *testing.T, image string) {
			f, err := os.OpenFile(image, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			b := make([]byte, 1)
			f.ReadAt(b, 600)
			b[0] ^= 0xff
			f.WriteAt(b, 600)
		}, false, "does not match the sha256"},
		{"truncated", func(t *testing.T, image string) {
			info, _ := os.Stat(image)
			if err := os.Truncate(image, info.Size()-4096); err != nil {
				t.Fatal(err)
			}
		}, false, "image.json says"},
		{"other mount dir", nil, true, "was made to be mounted at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mountDir := filepath.Join(t.TempDir(), "mnt")
			site, id := imageEntry(t, mountDir)
			if tc.breakIt != nil {
				tc.breakIt(t, filepath.Join(site.Entry(id), imageDir, imageName))
			}
			if tc.other {
				mountDir = filepath.Join(t.TempDir(), "elsewhere")
			}
			mounts, err := OpenMounts(mountDir)
			if err != nil {
				t.Fatal(err)
			}
			unmountAtEnd(t, mounts.Prefix(id))
			_, err = mounts.Mount(context.Background(), site, id, "7", time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Mount: %v, want an error with %q", err, tc.want)
			}
			if Mounted(mountDir, id) {
				t.Error("mounted anyway")
			}
			if _, err := os.Stat(mounts.meta(id, "job.7")); err == nil {
				t.Error("the job's lease is left")
			}
		})
	}
}

// TestOpenMountsRefuses: the mount dir must be a real root-owned dir that
// only root can write.
func TestOpenMountsRefuses(t *testing.T) {
	needMounts(t)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"symlink", func(t *testing.T, dir string) {
			if err := os.Symlink(t.TempDir(), dir); err != nil {
				t.Fatal(err)
			}
		}, "symlink"},
		{"writable by others", func(t *testing.T, dir string) {
			if err := os.Mkdir(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
		}, "others can write"},
		{"owned by a user", func(t *testing.T, dir string) {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, "owned by uid 65534"},
		{"relative", nil, "not an absolute path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "mnt")
			if tc.setup == nil {
				dir = "mnt"
			} else {
				tc.setup(t, dir)
			}
			if _, err := OpenMounts(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("OpenMounts: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestCheckBlocks: an image of several blocks (the last one short) checks
// whole; a byte changed in a block names that block.
func TestCheckBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int64(2*ImageBlock + ImageBlock/2)
	if err := f.Truncate(size); err != nil { // sparse: zeros, cheap to read
		t.Fatal(err)
	}
	f.WriteAt([]byte("head"), 0)
	sum, blocks, n, err := hashImage(path)
	if err != nil || n != size || len(blocks) != 3 || len(sum) != 64 {
		t.Fatalf("hashImage = %q, %d blocks, %d bytes, %v", sum, len(blocks), n, err)
	}
	img := &Image{SHA256: sum, Blocks: blocks, Bytes: n}
	if bad, err := checkBlocks(context.Background(), f, img); bad != -1 || err != nil {
		t.Fatalf("checkBlocks of the image itself = %d, %v", bad, err)
	}
	for _, tc := range []struct {
		at   int64
		want int
	}{{size - 1, 2}, {ImageBlock + 5, 1}} {
		orig := make([]byte, 1)
		f.ReadAt(orig, tc.at)
		f.WriteAt([]byte{orig[0] ^ 0xff}, tc.at)
		if bad, err := checkBlocks(context.Background(), f, img); bad != tc.want || err != nil {
			t.Errorf("a byte changed at %d: checkBlocks = %d, %v; want block %d", tc.at, bad, err, tc.want)
		}
		f.WriteAt(orig, tc.at)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := checkBlocks(ctx, f, img); !errors.Is(err, context.Canceled) {
		t.Errorf("checkBlocks after its deadline: %v, want context.Canceled", err)
	}
}

// TestReadableByAll: what goes into an image (every file root's) is
// readable by every job user, and executable where its owner could run it.
func TestReadableByAll(t *testing.T) {
	tree := t.TempDir()
	for _, tc := range []struct {
		name       string
		dir        bool
		perm, want os.FileMode
	}{
		{"private", false, 0o600, 0o644},
		{"script", false, 0o700, 0o755},
		{"readonly", false, 0o444, 0o444},
		{"pkg", true, 0o700, 0o755},
	} {
		p := filepath.Join(tree, tc.name)
		if tc.dir {
			if err := os.Mkdir(p, tc.perm); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(p, nil, tc.perm); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, tc.perm)
		defer func(p string, want os.FileMode, name string) {
			if info, err := os.Stat(p); err != nil || info.Mode().Perm() != want {
				t.Errorf("%s: mode %v (%v), want %v", name, info.Mode().Perm(), err, want)
			}
		}(p, tc.want, tc.name)
	}
	if err := readableByAll(tree); err != nil {
		t.Fatal(err)
	}
}

// TestMountLoopHintsCompression: a file the kernel's squashfs refuses (a
// superblock it cannot read, as one whose compression it lacks) fails the
// mount with EINVAL and the hint to check for lz4, and leaves nothing
// mounted.
func TestMountLoopHintsCompression(t *testing.T) {
	needMounts(t)
	bad := filepath.Join(t.TempDir(), "bad.sqfs")
	if err := os.WriteFile(bad, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(bad)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	target := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	unmountAtEnd(t, target)
	err = mountLoop(f, target, "squashfs")
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "CONFIG_SQUASHFS_LZ4") {
		t.Fatalf("mountLoop of a file that is no squashfs: %v; want EINVAL with the lz4 hint", err)
	}
	if unix.Unmount(target, unix.MNT_DETACH) == nil {
		t.Error("something was mounted at the target after the failed mount")
	}
}
