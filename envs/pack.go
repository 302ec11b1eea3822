package envs

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// Manifest lists every entry of a packed environment in archive order.
type Manifest struct {
	Files []FileEntry `json:"files"`
	Bytes int64       `json:"bytes"` // total size of regular files
}

// FileEntry is one file, directory or symlink of an environment.
type FileEntry struct {
	Path   string      `json:"path"` // slash-separated, relative to the env root
	Mode   fs.FileMode `json:"mode"`
	Size   int64       `json:"size,omitempty"`
	SHA256 string      `json:"sha256,omitempty"`
	Link   string      `json:"link,omitempty"`
}

// Count returns the number of regular files.
func (m *Manifest) Count() int {
	n := 0
	for _, f := range m.Files {
		if f.Mode.IsRegular() {
			n++
		}
	}
	return n
}

// Pack writes the tree at root as a zstd-compressed tar to w and returns its
// manifest. Only regular files, directories and symlinks are allowed.
func Pack(root string, w io.Writer) (*Manifest, error) {
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, fmt.Errorf("failed to start compressor: %w", err)
	}
	tw := tar.NewWriter(zw)
	m := &Manifest{}
	buf := make([]byte, 256<<10)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := FileEntry{Path: filepath.ToSlash(rel), Mode: info.Mode() & (fs.ModeType | fs.ModePerm)}
		hdr := &tar.Header{Name: e.Path, Mode: int64(info.Mode().Perm()), ModTime: info.ModTime(), Format: tar.FormatPAX}
		switch {
		case info.Mode().IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
		case info.IsDir():
			hdr.Typeflag = tar.TypeDir
		case info.Mode()&fs.ModeSymlink != 0:
			if e.Link, err = os.Readlink(p); err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.Link
		default:
			return fmt.Errorf("%s: unsupported file type %s", p, info.Mode().Type())
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			n, err := io.CopyBuffer(io.MultiWriter(tw, h), f, buf)
			f.Close()
			if err != nil {
				return err
			}
			if n != info.Size() {
				return fmt.Errorf("%s changed size while packing", p)
			}
			e.Size, e.SHA256 = n, hex.EncodeToString(h.Sum(nil))
			m.Bytes += n
		}
		m.Files = append(m.Files, e)
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("failed to pack %s: %w", root, err)
	}
	return m, nil
}

// Unpack extracts a Pack archive into root, which must not exist, checking
// every entry against the manifest: same order, path, type, mode, size and
// sha256. Any difference is an error, and the caller removes root.
//
// One goroutine decompresses and reads the archive, creating directories
// and symlinks in order; regular files go to writer goroutines that check
// their sha256 and write them, so that hashing and the per-file system
// calls, which dominate staging, use every core.
func Unpack(r io.Reader, root string, m *Manifest) error {
	zr, err := zstd.NewReader(bufio.NewReaderSize(r, 1<<20))
	if err != nil {
		return fmt.Errorf("failed to start decompressor: %w", err)
	}
	defer zr.Close()
	if err := mkdirMode(root, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", root, err)
	}
	w := newWriters(runtime.NumCPU())
	err = readArchive(tar.NewReader(zr), root, m, w)
	if werr := w.wait(); err == nil {
		err = werr
	}
	return err
}

// readArchive walks the archive, checking each entry against the manifest,
// and hands regular files to w.
func readArchive(tr *tar.Reader, root string, m *Manifest, w *writers) error {
	// every entry's parent must be a directory this unpack made: a symlink
	// entry followed by "link/file" would otherwise write through the link
	dirs := map[string]bool{".": true}
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if i != len(m.Files) {
				return fmt.Errorf("failed to unpack: archive has %d entries, manifest %d", i, len(m.Files))
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("failed to unpack: %w", err)
		}
		if i >= len(m.Files) {
			return fmt.Errorf("failed to unpack: archive has more entries than the manifest")
		}
		if !dirs[path.Dir(hdr.Name)] {
			return fmt.Errorf("failed to unpack %s: its parent is not a directory of the archive", hdr.Name)
		}
		if err := extract(tr, hdr, root, m.Files[i], w); err != nil {
			return fmt.Errorf("failed to unpack %s: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs[hdr.Name] = true
		}
		if err := w.failed(); err != nil {
			return err
		}
	}
}

func extract(tr *tar.Reader, hdr *tar.Header, root string, want FileEntry, w *writers) error {
	if hdr.Name != want.Path || !localPath(hdr.Name) {
		return fmt.Errorf("entry does not match manifest entry %q", want.Path)
	}
	dst := filepath.Join(root, filepath.FromSlash(hdr.Name))
	perm := fs.FileMode(hdr.Mode).Perm()
	if perm != want.Mode.Perm() {
		return fmt.Errorf("mode %v, manifest says %v", perm, want.Mode.Perm())
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !want.Mode.IsDir() {
			return errors.New("directory, manifest says otherwise")
		}
		return mkdirMode(dst, perm)
	case tar.TypeSymlink:
		if want.Mode&fs.ModeSymlink == 0 || hdr.Linkname != want.Link {
			return errors.New("symlink does not match manifest")
		}
		return os.Symlink(hdr.Linkname, dst)
	case tar.TypeReg:
		if !want.Mode.IsRegular() || hdr.Size != want.Size {
			return errors.New("file does not match manifest")
		}
		j := fileJob{dst: dst, perm: perm, mtime: hdr.ModTime, sha256: want.SHA256}
		if hdr.Size > maxQueuedFile {
			return j.stream(tr) // a large library: bounded memory beats parallelism
		}
		j.data = make([]byte, hdr.Size)
		if _, err := io.ReadFull(tr, j.data); err != nil {
			return err
		}
		w.add(j)
		return nil
	}
	return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
}

// maxQueuedFile is the largest file handed to a writer goroutine; the
// queue holds at most 32 of them, so staging needs at most 128 MiB.
const maxQueuedFile = 4 << 20

// fileJob is one regular file to verify and write.
type fileJob struct {
	dst    string
	perm   fs.FileMode
	mtime  time.Time
	data   []byte
	sha256 string
}

// writers is a pool of goroutines writing files; the first error stops it.
type writers struct {
	jobs chan fileJob
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
}

func newWriters(n int) *writers {
	w := &writers{jobs: make(chan fileJob, 32)}
	for i := 0; i < max(n, 1); i++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for j := range w.jobs {
				if w.failed() != nil {
					continue // drain
				}
				if err := j.write(); err != nil {
					w.mu.Lock()
					if w.err == nil {
						w.err = fmt.Errorf("failed to unpack %s: %w", j.dst, err)
					}
					w.mu.Unlock()
				}
			}
		}()
	}
	return w
}

func (w *writers) add(j fileJob) { w.jobs <- j }

func (w *writers) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// wait stops the pool after the queued files and returns the first error.
func (w *writers) wait() error {
	close(w.jobs)
	w.wg.Wait()
	return w.failed()
}

// write checks the file's sha256, then creates it with its mode and mtime
// through the bare descriptor (os.File would register every file with the
// poller, a few system calls each). The mtime matters: Python trusts a .pyc
// only while its source keeps the mtime recorded in it.
func (j fileJob) write() error {
	sum := sha256.Sum256(j.data)
	if hex.EncodeToString(sum[:]) != j.sha256 {
		return errors.New("content does not match manifest sha256")
	}
	return j.create(func(fd int) error { return writeAll(fd, j.data) })
}

// stream writes a file straight from r, checking its sha256 as it goes.
func (j fileJob) stream(r io.Reader) error {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	err := j.create(func(fd int) error {
		for {
			n, err := r.Read(buf)
			if n > 0 {
				h.Write(buf[:n])
				if werr := writeAll(fd, buf[:n]); werr != nil {
					return werr
				}
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
	if err == nil && hex.EncodeToString(h.Sum(nil)) != j.sha256 {
		err = errors.New("content does not match manifest sha256")
	}
	return err
}

// create makes the file, lets fill write its content, then sets mode and
// mtime.
func (j fileJob) create(fill func(fd int) error) error {
	fd, err := unix.Open(j.dst, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint32(j.perm))
	if err != nil {
		return err
	}
	err = fill(fd)
	if err == nil && j.perm&umask != 0 {
		err = unix.Fchmod(fd, uint32(j.perm))
	}
	if err == nil {
		mt := unix.NsecToTimespec(j.mtime.UnixNano())
		err = unix.UtimesNanoAt(fd, "", []unix.Timespec{mt, mt}, unix.AT_EMPTY_PATH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) { // kernels without AT_EMPTY_PATH here
			err = unix.UtimesNanoAt(unix.AT_FDCWD, j.dst, []unix.Timespec{mt, mt}, 0)
		}
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	return err
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		b = b[n:]
	}
	return nil
}

// umask is the process umask, read once: entries whose mode it would
// change get an explicit chmod, so a job's `umask 077` cannot make a staged
// env differ from its manifest.
var umask = func() fs.FileMode {
	m := unix.Umask(0)
	unix.Umask(m)
	return fs.FileMode(m)
}()

func mkdirMode(dst string, perm fs.FileMode) error {
	if err := os.Mkdir(dst, perm); err != nil {
		return err
	}
	if perm&umask != 0 {
		return os.Chmod(dst, perm)
	}
	return nil
}

// localPath reports whether a slash path stays inside the root.
func localPath(p string) bool {
	return p != "" && !path.IsAbs(p) && !strings.HasPrefix(path.Clean(p), "..") && path.Clean(p) == p
}

// Verify checks the tree at root against the manifest, file by file. It is
// what the tests use to prove that no payload ran on a partial env.
func Verify(root string, m *Manifest) error {
	for _, e := range m.Files {
		p := filepath.Join(root, filepath.FromSlash(e.Path))
		info, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("failed to verify %s: %w", e.Path, err)
		}
		if info.Mode()&(fs.ModeType|fs.ModePerm) != e.Mode {
			return fmt.Errorf("failed to verify %s: mode %v, manifest %v", e.Path, info.Mode(), e.Mode)
		}
		if e.Mode.IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("failed to verify %s: %w", e.Path, err)
			}
			sum := sha256.Sum256(data)
			if hex.EncodeToString(sum[:]) != e.SHA256 {
				return fmt.Errorf("failed to verify %s: content differs from manifest", e.Path)
			}
		}
	}
	return nil
}
