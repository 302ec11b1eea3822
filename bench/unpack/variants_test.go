package unpack

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/senv-hpc/senv/envs"
)

// variant is one set of the changes proposed for envs.Unpack, so each can
// be measured alone on the same archive. The zero variant is a copy of
// envs.Unpack as it was at 8373ea5: sequential, no mtimes. (envs.Unpack
// has since kept mtimes, 17f02c8, and writes files from worker goroutines
// through the bare fd, b2dd232; "envs.Unpack" in the results is whatever
// the tree has.)
type variant struct {
	keepMtime bool // give each file its archived mtime through its fd (keeps .pyc files valid)
	rawFD     bool // unix.Open/Write/Close instead of os.OpenFile: no poller registration
	zstdSync  bool // zstd.WithDecoderConcurrency(1): decode in the reading goroutine
	// archiveHash verifies one sha256 of the compressed archive (as read,
	// recorded at publish) instead of one per file of the decompressed
	// content; paths, order, types, modes and sizes are still checked
	// against the manifest, and zstd checks its own frame checksums.
	archiveHash bool
}

// BenchmarkVariants measures envs.Unpack and each proposed change on the
// archive in SENV_BENCH_ENTRY. Each iteration is one round that runs every
// variant once, in turn, so that a change of machine load hits them all
// alike; it reports each variant's median over the rounds as NAME-ms.
// Run it with -benchtime Nx for N rounds. This is a prototype for
// numbers, not senv's code.
func BenchmarkVariants(b *testing.B) {
	archive, m, scratch := entry(b)
	cases := []struct {
		name string
		v    *variant
	}{
		{"envs.Unpack", nil},
		{"old-Unpack-no-mtime", &variant{}},
		{"keep-mtime", &variant{keepMtime: true}},
		{"raw-fd", &variant{rawFD: true}},
		{"zstd-sync", &variant{zstdSync: true}},
		{"archive-sha256", &variant{archiveHash: true}},
		{"keep-mtime+raw-fd", &variant{keepMtime: true, rawFD: true}},
		{"keep-mtime+raw-fd+archive-sha256", &variant{keepMtime: true, rawFD: true, archiveHash: true}},
	}
	times := make([][]float64, len(cases))
	dst := filepath.Join(scratch, "unpack")
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		for j, c := range cases {
			if err := os.RemoveAll(dst); err != nil {
				b.Fatal(err)
			}
			f, err := os.Open(archive)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if c.v == nil {
				err = envs.Unpack(f, dst, m)
			} else {
				err = unpackVariant(f, dst, m, *c.v)
			}
			times[j] = append(times[j], float64(time.Since(start).Microseconds())/1000)
			f.Close()
			if err != nil {
				b.Fatalf("%s: %v", c.name, err)
			}
			if i == 0 && c.v != nil {
				if err := envs.Verify(dst, m); err != nil {
					b.Fatalf("%s unpacked something else: %v", c.name, err)
				}
				if c.v.keepMtime {
					if err := checkMtimes(archive, dst); err != nil {
						b.Fatalf("%s: %v", c.name, err)
					}
				}
			}
		}
	}
	if err := os.RemoveAll(dst); err != nil {
		b.Fatal(err)
	}
	for j, c := range cases {
		b.ReportMetric(median(times[j]), c.name+"-ms")
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// unpackVariant is envs.Unpack (same order of checks) with v's changes.
func unpackVariant(r io.Reader, root string, m *envs.Manifest, v variant) error {
	var opts []zstd.DOption
	if v.zstdSync {
		opts = append(opts, zstd.WithDecoderConcurrency(1))
	}
	var archiveSum hash.Hash
	if v.archiveHash {
		archiveSum = sha256.New()
		r = io.TeeReader(r, archiveSum)
	}
	zr, err := zstd.NewReader(bufio.NewReaderSize(r, 1<<20), opts...)
	if err != nil {
		return err
	}
	defer zr.Close()
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	buf := make([]byte, 256<<10)
	h := sha256.New()
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if i != len(m.Files) {
				return errors.New("archive shorter than manifest")
			}
			if archiveSum != nil {
				// drain the rest of the stream (tar padding, zstd end)
				// and compare with the sum recorded at publish (here:
				// computed, the comparison costs nothing)
				if _, err := io.Copy(io.Discard, zr); err != nil {
					return err
				}
				_ = hex.EncodeToString(archiveSum.Sum(nil))
			}
			return nil
		}
		if err != nil {
			return err
		}
		if i >= len(m.Files) {
			return errors.New("archive longer than manifest")
		}
		if err := extractVariant(tr, hdr, root, m.Files[i], buf, h, v); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
}

func extractVariant(tr *tar.Reader, hdr *tar.Header, root string, want envs.FileEntry, buf []byte, h hash.Hash, v variant) error {
	if hdr.Name != want.Path {
		return errors.New("entry does not match manifest")
	}
	dst := filepath.Join(root, filepath.FromSlash(hdr.Name))
	perm := fs.FileMode(hdr.Mode).Perm()
	if perm != want.Mode.Perm() {
		return errors.New("mode does not match manifest")
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(dst, perm); err != nil || perm&umask == 0 {
			return err
		}
		return os.Chmod(dst, perm)
	case tar.TypeSymlink:
		return os.Symlink(hdr.Linkname, dst)
	case tar.TypeReg:
		if hdr.Size != want.Size {
			return errors.New("size does not match manifest")
		}
		var n int64
		var err error
		if v.archiveHash {
			h = nil
		} else {
			h.Reset()
		}
		if v.rawFD {
			n, err = writeRaw(dst, perm, tr, buf, h, hdr, v.keepMtime)
		} else {
			n, err = writeOS(dst, perm, tr, buf, h, hdr, v.keepMtime)
		}
		if err != nil {
			return err
		}
		if n != want.Size || h != nil && hex.EncodeToString(h.Sum(nil)) != want.SHA256 {
			return errors.New("content does not match manifest sha256")
		}
		return nil
	}
	return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
}

func writeOS(dst string, perm fs.FileMode, r io.Reader, buf []byte, h hash.Hash, hdr *tar.Header, keepMtime bool) (int64, error) {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return 0, err
	}
	if perm&umask != 0 {
		if err := f.Chmod(perm); err != nil {
			f.Close()
			return 0, err
		}
	}
	// hide f's ReadFrom, as io.MultiWriter does: os.File.ReadFrom would
	// try copy_file_range and splice for every file first
	var w io.Writer = struct{ io.Writer }{f}
	if h != nil {
		w = io.MultiWriter(f, h)
	}
	n, err := io.CopyBuffer(w, r, buf)
	if err == nil && keepMtime {
		err = futimens(int(f.Fd()), hdr)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// writeRaw writes through the bare descriptor: os.OpenFile on a regular
// file costs 4 fcntl and 1 failing epoll_ctl (it tries the poller first).
func writeRaw(dst string, perm fs.FileMode, r io.Reader, buf []byte, h hash.Hash, hdr *tar.Header, keepMtime bool) (int64, error) {
	fd, err := unix.Open(dst, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint32(perm))
	if err != nil {
		return 0, &fs.PathError{Op: "open", Path: dst, Err: err}
	}
	if perm&umask != 0 {
		if err := unix.Fchmod(fd, uint32(perm)); err != nil {
			unix.Close(fd)
			return 0, err
		}
	}
	var total int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if h != nil {
				h.Write(buf[:n])
			}
			for p := buf[:n]; len(p) > 0; {
				w, err := unix.Write(fd, p)
				if err != nil {
					unix.Close(fd)
					return total, err
				}
				p = p[w:]
			}
			total += int64(n)
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			unix.Close(fd)
			return total, rerr
		}
	}
	if keepMtime {
		if err := futimens(fd, hdr); err != nil {
			unix.Close(fd)
			return total, err
		}
	}
	return total, unix.Close(fd)
}

// umask is the process umask, as envs.Unpack reads it: modes it would
// change get an explicit chmod.
var umask = func() fs.FileMode {
	m := unix.Umask(0)
	unix.Umask(m)
	return fs.FileMode(m)
}()

// futimens sets an open file's atime and mtime to the archived mtime.
func futimens(fd int, hdr *tar.Header) error {
	ts := unix.NsecToTimespec(hdr.ModTime.UnixNano())
	return unix.UtimesNanoAt(fd, "", []unix.Timespec{ts, ts}, unix.AT_EMPTY_PATH)
}

// checkMtimes makes sure a keep-mtime variant did keep them.
func checkMtimes(archive, root string) error {
	mt, err := readMtimes(archive)
	if err != nil {
		return err
	}
	for name, t := range mt {
		info, err := os.Lstat(filepath.Join(root, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		if info.Mode().IsRegular() && !info.ModTime().Equal(t) {
			return fmt.Errorf("%s: mtime %v, archived %v", name, info.ModTime(), t)
		}
	}
	return nil
}
