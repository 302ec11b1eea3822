package envs

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// Unpack extracts a Pack archive of size bytes into root, which must not
// exist, checking it against the manifest: every entry in the same order
// with the same path, type, mode and size, and each chunk's compressed
// bytes against its sha256. Any difference is an error, and the caller
// removes root. progress, if set, is called with the compressed bytes read
// so far.
//
// The manifest's directories are created first; then chunks are extracted
// in parallel, one goroutine per core, each writing its own files. A
// directory that the manifest makes read-only gets its mode last.
//
// When root is not the prefix the env was packed from (Manifest.Prefix),
// the files and symlinks that embed that prefix are rewritten for root as
// they are written (a split file once all its pieces are in), with the
// mode and mtime of the archive (see relocator); a binary file that cannot
// be is a *RelocateError, before anything is written.
func Unpack(r io.ReaderAt, size int64, root string, m *Manifest, progress func(done, total int64)) error {
	return unpack(r, size, root, root, m, progress)
}

// unpack is Unpack into root of an env that will run at prefix: an image's
// tree is written in scratch for the path it is mounted at.
func unpack(r io.ReaderAt, size int64, root, prefix string, m *Manifest, progress func(done, total int64)) error {
	if err := checkManifest(m, size); err != nil {
		return fmt.Errorf("failed to unpack: %w", err)
	}
	reloc, err := newRelocator(m, prefix)
	if err != nil {
		return err
	}
	if err := mkdirMode(root, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", root, err)
	}
	var fixModes []FileEntry
	for _, e := range m.Files {
		if !e.Mode.IsDir() {
			continue
		}
		perm := e.Mode.Perm()
		if perm&0o700 != 0o700 {
			fixModes = append(fixModes, e)
			perm |= 0o700 // writable until its files are in
		}
		if err := mkdirMode(filepath.Join(root, filepath.FromSlash(e.Path)), perm); err != nil {
			return fmt.Errorf("failed to unpack: %w", err)
		}
	}
	u := &unpacker{root: root, m: m, size: size, progress: progress, reloc: reloc, mtimes: map[int]time.Time{}}
	split := splitFiles(m)
	for _, k := range split { // their pieces are written in parallel, by offset
		if err := createSplit(filepath.Join(root, filepath.FromSlash(m.Files[k].Path))); err != nil {
			return fmt.Errorf("failed to unpack: %w", err)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(m.Chunks), 16)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u.work(r)
		}()
	}
	wg.Wait()
	if err := u.failed(); err != nil {
		return err
	}
	for _, k := range split {
		if e := m.Files[k]; reloc != nil && e.Embeds != "" {
			if err := reloc.rewrite(filepath.Join(root, filepath.FromSlash(e.Path)), e.Embeds); err != nil {
				return fmt.Errorf("failed to unpack: %w", err)
			}
		}
		if err := finishSplit(filepath.Join(root, filepath.FromSlash(m.Files[k].Path)), m.Files[k].Mode.Perm(), u.mtimes[k]); err != nil {
			return fmt.Errorf("failed to unpack: %w", err)
		}
	}
	for i := len(fixModes) - 1; i >= 0; i-- {
		e := fixModes[i]
		if err := os.Chmod(filepath.Join(root, filepath.FromSlash(e.Path)), e.Mode.Perm()); err != nil {
			return fmt.Errorf("failed to unpack: %w", err)
		}
	}
	return nil
}

// checkManifest refuses a manifest that could make Unpack write outside
// root or leave part of the archive unread: every path is local, unique and
// inside a directory listed before it, and the chunks tile the archive.
func checkManifest(m *Manifest, size int64) error {
	dirs := map[string]bool{".": true}
	seen := make(map[string]bool, len(m.Files))
	for _, e := range m.Files {
		if !localPath(e.Path) || seen[e.Path] {
			return fmt.Errorf("manifest entry %q is not a unique path inside the env", e.Path)
		}
		// a symlink entry "lib" followed by "lib/x" would write through the link
		if !dirs[path.Dir(e.Path)] {
			return fmt.Errorf("manifest entry %q: its parent is not a directory of the env", e.Path)
		}
		seen[e.Path] = true
		if e.Mode.IsDir() {
			dirs[e.Path] = true
		}
	}
	if len(m.Chunks) == 0 {
		return errors.New("the manifest lists no chunks: the entry was written by an older senv (remove it with `senv rm ID` and run again to rebuild)")
	}
	var off int64
	for i, c := range m.Chunks {
		if c.Offset != off || c.Size <= 0 || c.First > len(m.Files) || (i == 0 && c.First != 0) || (i > 0 && c.First < m.Chunks[i-1].First) {
			return fmt.Errorf("manifest chunk %d is out of place", i)
		}
		if err := checkPiece(m, i); err != nil {
			return fmt.Errorf("manifest chunk %d: %w", i, err)
		}
		off += c.Size
	}
	if off != size {
		return fmt.Errorf("archive is %d bytes, its chunks %d", size, off)
	}
	return nil
}

// unpacker is the state Unpack's goroutines share.
type unpacker struct {
	root     string
	m        *Manifest
	size     int64
	next     atomic.Int64 // next chunk to take
	read     atomic.Int64 // compressed bytes read, for progress
	progress func(done, total int64)
	mu       sync.Mutex        // serializes calls to progress, guards mtimes
	mtimes   map[int]time.Time // of split files, by entry, from their header chunk
	reloc    *relocator        // nil: unpacked where it was packed
	firstError
}

func (u *unpacker) report(n int) {
	u.read.Add(int64(n))
	if u.progress != nil {
		u.mu.Lock()
		u.progress(u.read.Load(), u.size) // under the lock: never backwards
		u.mu.Unlock()
	}
}

// work extracts chunks until none is left or one failed. The decoder runs
// synchronously, in this goroutine: parallelism comes from the chunks, and
// only then may chunk read the rest of its input after an error.
func (u *unpacker) work(r io.ReaderAt) {
	// zstd's own frame checksums (xxhash), which archives of earlier
	// versions of senv carry, are skipped: the chunk's sha256 already pins
	// the compressed bytes, and so what they decode to. Pack no longer
	// writes them (see newPacker).
	// The window is bounded by what Pack writes (a frame of at most two
	// chunks' worth, or a one-chunk window), so that a crafted frame cannot
	// make each worker allocate zstd's default maximum (512 MiB).
	zr, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.IgnoreChecksum(true),
		zstd.WithDecoderMaxWindow(4*ChunkTarget))
	if err != nil {
		u.fail(fmt.Errorf("failed to start decompressor: %w", err))
		return
	}
	defer zr.Close()
	buf := make([]byte, 256<<10)
	br := bufio.NewReaderSize(nil, 256<<10)
	for u.failed() == nil {
		i := int(u.next.Add(1) - 1)
		if i >= len(u.m.Chunks) {
			return
		}
		if err := u.chunk(r, i, zr, br, buf); err != nil {
			u.fail(fmt.Errorf("failed to unpack chunk %d of the archive: %w", i, err))
		}
	}
}

// ErrDamaged means an archive's bytes differ from its manifest's sha256:
// the cache entry was damaged after it was published.
var ErrDamaged = errors.New("its bytes differ from the manifest's sha256")

// chunk extracts chunk i and then checks its sha256. The whole chunk is
// hashed even when extracting it failed: a damaged archive usually shows
// up first as a broken tar header, and is reported as ErrDamaged.
func (u *unpacker) chunk(r io.ReaderAt, i int, zr *zstd.Decoder, br *bufio.Reader, buf []byte) error {
	c := u.m.Chunks[i]
	h := sha256.New()
	src := &hashReader{r: io.NewSectionReader(r, c.Offset, c.Size), h: h, report: u.report}
	br.Reset(src)
	err := zr.Reset(br)
	if err == nil {
		err = u.extractChunk(i, zr, buf)
	}
	if _, cerr := io.CopyBuffer(io.Discard, src, buf); cerr != nil {
		return cerr
	}
	if src.n != c.Size || hex.EncodeToString(h.Sum(nil)) != c.SHA256 {
		return ErrDamaged
	}
	return err
}

// extractChunk extracts the entries of chunk i from zr, which decodes it.
func (u *unpacker) extractChunk(i int, zr *zstd.Decoder, buf []byte) error {
	c := u.m.Chunks[i]
	if c.Data {
		return u.extractPiece(c, zr, buf)
	}
	last := len(u.m.Files)
	if i+1 < len(u.m.Chunks) {
		last = u.m.Chunks[i+1].First
		if u.m.Chunks[i+1].Data { // the header of a split file, alone
			return u.extractSplitHeader(c.First, zr, buf)
		}
	}
	tr := tar.NewReader(zr)
	for k := c.First; ; k++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if k != last {
				return fmt.Errorf("it ends after %d entries, the manifest lists %d", k-c.First, last-c.First)
			}
			break
		}
		if err != nil {
			return err
		}
		if k >= last {
			return errors.New("it holds more entries than the manifest lists")
		}
		if err := u.extract(tr, hdr, u.m.Files[k], buf); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
	// nothing may follow the last entry: a second tar stream would be
	// invisible here and visible to `zstd -d | tar -x`
	if n, err := zr.Read(buf[:1]); n != 0 || !errors.Is(err, io.EOF) {
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("data after its last entry")
		}
		return err
	}
	return nil
}

// hashReader hashes and counts what is read through it.
type hashReader struct {
	r      io.Reader
	h      hash.Hash
	n      int64
	report func(int)
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	h.report(n)
	return n, err
}

// extract checks one entry against the manifest and writes it. Its
// directory exists already (Unpack made every directory first).
func (u *unpacker) extract(tr *tar.Reader, hdr *tar.Header, want FileEntry, buf []byte) error {
	if hdr.Name != want.Path {
		return fmt.Errorf("entry does not match manifest entry %q", want.Path)
	}
	dst := filepath.Join(u.root, filepath.FromSlash(hdr.Name))
	perm := fs.FileMode(hdr.Mode).Perm()
	if perm != want.Mode.Perm() {
		return fmt.Errorf("mode %v, manifest says %v", perm, want.Mode.Perm())
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !want.Mode.IsDir() {
			return errors.New("directory, manifest says otherwise")
		}
		return nil
	case tar.TypeSymlink:
		if want.Mode&fs.ModeSymlink == 0 || hdr.Linkname != want.Link {
			return errors.New("symlink does not match manifest")
		}
		if u.reloc != nil && want.Embeds != "" {
			return os.Symlink(u.reloc.link(hdr.Linkname), dst)
		}
		return os.Symlink(hdr.Linkname, dst)
	case tar.TypeReg:
		if !want.Mode.IsRegular() || hdr.Size != want.Size {
			return errors.New("file does not match manifest")
		}
		if u.reloc != nil && want.Embeds != "" {
			return u.writeRelocated(dst, perm, hdr, tr, want.Embeds, buf)
		}
		return writeFile(dst, perm, hdr, tr, buf)
	}
	return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
}

// writeFile creates dst and copies the entry's content into it through the
// bare descriptor (os.File would register every file with the poller, a few
// system calls each), then sets mode and mtime. The mtime matters: Python
// trusts a .pyc only while its source keeps the mtime recorded in it.
func writeFile(dst string, perm fs.FileMode, hdr *tar.Header, r io.Reader, buf []byte) error {
	fd, err := unix.Open(dst, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm))
	if err != nil {
		return err
	}
	var n int64
	for err == nil {
		var k int
		k, err = r.Read(buf)
		if k > 0 {
			n += int64(k)
			if werr := writeAll(fd, buf[:k]); werr != nil {
				err = werr
			}
		}
	}
	if errors.Is(err, io.EOF) {
		err = nil
		if n != hdr.Size {
			err = io.ErrUnexpectedEOF
		}
	}
	if err == nil && perm&umask != 0 {
		err = unix.Fchmod(fd, uint32(perm))
	}
	if err == nil {
		mt := unix.NsecToTimespec(hdr.ModTime.UnixNano())
		err = unix.UtimesNanoAt(fd, "", []unix.Timespec{mt, mt}, unix.AT_EMPTY_PATH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) { // kernels without AT_EMPTY_PATH here
			err = unix.UtimesNanoAt(unix.AT_FDCWD, dst, []unix.Timespec{mt, mt}, unix.AT_SYMLINK_NOFOLLOW)
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
	return p != "" && p != "." && p != ".." && !path.IsAbs(p) && !strings.HasPrefix(p, "../") && path.Clean(p) == p
}

// Verify checks the tree at root against the manifest, file by file. It is
// what the tests use to prove that no payload ran on a partial env. In an
// env unpacked away from the prefix it was packed from, a file that
// embedded that prefix must hold it no more (its checksum is of the old
// content), and a relocated symlink must point into root.
func Verify(root string, m *Manifest) error {
	reloc, err := newRelocator(m, root)
	if err != nil {
		return fmt.Errorf("failed to verify %s: %w", root, err)
	}
	for _, e := range m.Files {
		p := filepath.Join(root, filepath.FromSlash(e.Path))
		info, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("failed to verify %s: %w", e.Path, err)
		}
		if info.Mode()&(fs.ModeType|fs.ModePerm) != e.Mode {
			return fmt.Errorf("failed to verify %s: mode %v, manifest %v", e.Path, info.Mode(), e.Mode)
		}
		if reloc != nil && e.Embeds != "" {
			if err := reloc.verify(p, e); err != nil {
				return fmt.Errorf("failed to verify %s: %w", e.Path, err)
			}
			continue
		}
		if e.Mode.IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("failed to verify %s: %w", e.Path, err)
			}
			if fmt.Sprintf("%08x", crc32.Checksum(data, castagnoli)) != e.CRC32C {
				return fmt.Errorf("failed to verify %s: content differs from manifest", e.Path)
			}
		}
	}
	return nil
}
