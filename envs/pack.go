package envs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
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

// Manifest lists every entry of a packed environment in archive order, and
// the archive's chunks.
type Manifest struct {
	Files  []FileEntry `json:"files"`
	Chunks []Chunk     `json:"chunks"`
	Bytes  int64       `json:"bytes"` // total size of regular files
	// Prefix is the absolute path the env was packed from, which the
	// entries whose Embeds is set hold; Unpack into another root rewrites
	// them. "" in manifests of senv before relocation: such an env runs
	// only where it was built.
	Prefix string `json:"prefix,omitempty"`
}

// FileEntry is one file, directory or symlink of an environment.
type FileEntry struct {
	Path   string      `json:"path"` // slash-separated, relative to the env root
	Mode   fs.FileMode `json:"mode"`
	Size   int64       `json:"size,omitempty"`
	SHA256 string      `json:"sha256,omitempty"`
	Link   string      `json:"link,omitempty"`
	// Embeds is EmbedsText or EmbedsBinary for a regular file that holds
	// Manifest.Prefix, EmbedsText for a symlink whose target is inside it,
	// and "" for the rest.
	Embeds string `json:"embeds,omitempty"`
}

// Chunk is one zstd frame of the archive. Each frame holds whole tar
// entries, so chunks can be decompressed and extracted in parallel, while
// the archive as a whole stays one plain tar stream (`zstd -d | tar -x`
// reads it). The sha256 of the compressed bytes is what staging verifies.
type Chunk struct {
	Offset int64  `json:"offset"` // of the frame in the archive
	Size   int64  `json:"size"`   // compressed bytes
	First  int    `json:"first"`  // index in Files of its first entry
	SHA256 string `json:"sha256"` // of the compressed bytes
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

// ChunkTarget is the uncompressed size after which Pack starts a new chunk,
// and ChunkEntries the number of entries. Smaller chunks spread staging
// over more cores, also for envs of many small files; each one restarts
// zstd's window, which costs about 1% of compression at these sizes.
const (
	ChunkTarget  = 4 << 20
	ChunkEntries = 256
)

// Pack writes the tree at root as a zstd-compressed tar to w, one zstd frame
// per chunk, and returns its manifest. Only regular files, directories and
// symlinks are allowed.
//
// One goroutine walks the tree, hashes each file and writes the tar stream
// into the current chunk; worker goroutines compress finished chunks in
// parallel, and a writer goroutine appends them to w in order. A file
// larger than a chunk gets a frame of its own, compressed as it is read.
// Pack compresses harder than zstd's default: it runs once per env, and a
// smaller archive is both fewer bytes on the shared filesystem and slightly
// faster to decompress. The window is one chunk (a larger one gains nothing
// across frames), which bounds each staging worker's memory.
//
// Every file is scanned for root (as an absolute path) while it is read;
// those that hold it are marked in the manifest (FileEntry.Embeds), so
// that Unpack can relocate the env.
func Pack(root string, w io.Writer) (*Manifest, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("failed to pack %s: %w", root, err)
	}
	m := &Manifest{Prefix: abs}
	scan := newPrefixScanner(abs)
	p, err := newPacker(w)
	if err != nil {
		return nil, fmt.Errorf("failed to start compressor: %w", err)
	}
	defer p.stop()
	tw := tar.NewWriter(p)
	buf := make([]byte, 256<<10)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		big := info.Mode().IsRegular() && info.Size() > ChunkTarget
		if p.n >= ChunkTarget || len(m.Files)-p.first >= ChunkEntries || (big && p.n > 0) {
			if err := p.cut(tw, len(m.Files)); err != nil { // between entries
				return err
			}
		}
		if big {
			if err := p.startStream(); err != nil {
				return err
			}
		}
		e := FileEntry{Path: filepath.ToSlash(rel), Mode: info.Mode() & (fs.ModeType | fs.ModePerm)}
		// whole seconds, as tar keeps them and Python's .pyc check reads
		// them: most headers then fit one ustar block, with no PAX record
		hdr := &tar.Header{Name: e.Path, Mode: int64(info.Mode().Perm()), ModTime: info.ModTime().Truncate(time.Second)}
		switch {
		case info.Mode().IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
		case info.IsDir():
			hdr.Typeflag = tar.TypeDir
		case info.Mode()&fs.ModeSymlink != 0:
			if e.Link, err = os.Readlink(path); err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.Link
			if e.Link == abs || strings.HasPrefix(e.Link, abs+"/") {
				e.Embeds = EmbedsText
			}
		default:
			return fmt.Errorf("%s: unsupported file type %s", path, info.Mode().Type())
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			h := sha256.New()
			dst := io.MultiWriter(tw, h)
			scan.reset()
			if scanned(e.Path) {
				dst = io.MultiWriter(tw, h, scan)
			}
			n, err := io.CopyBuffer(dst, f, buf)
			f.Close()
			if err != nil {
				return err
			}
			if n != info.Size() {
				return fmt.Errorf("%s changed size while packing", path)
			}
			e.Size, e.SHA256, e.Embeds = n, hex.EncodeToString(h.Sum(nil)), scan.embeds()
			m.Bytes += n
		}
		m.Files = append(m.Files, e)
		if big {
			return p.cut(tw, len(m.Files))
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = p.finish()
	}
	if err != nil {
		return nil, fmt.Errorf("failed to pack %s: %w", root, err)
	}
	m.Chunks = p.chunks
	return m, nil
}

// packer is the io.Writer behind Pack's tar writer: it collects the tar
// stream chunk by chunk and has the chunks compressed and written in order.
type packer struct {
	w      io.Writer
	off    int64   // bytes written to w
	chunks []Chunk // written so far, in order

	cur   bytes.Buffer // the current chunk, uncompressed
	n     int64        // bytes in the current chunk
	first int          // index of its first entry

	enc       *zstd.Encoder // EncodeAll, called by the workers concurrently
	streamEnc *zstd.Encoder // compresses a big file straight to w
	streaming bool          // a big file's frame is being written
	sw        *hashCounter  // w, hashed and counted, under streamEnc

	work  chan *packJob // to the compressing workers
	order chan *packJob // to the writer, in archive order
	wg    sync.WaitGroup
	firstError
}

// packJob is one chunk on its way to w. A job with a barrier only marks
// that everything before it has been written.
type packJob struct {
	first   int
	raw     []byte
	out     chan []byte
	barrier chan struct{}
}

// packWorkers bounds Pack's compressing workers: chunks in flight cost
// memory (about 6 MiB each).
const packWorkers = 8

func newPacker(w io.Writer) (*packer, error) {
	n := min(runtime.GOMAXPROCS(0), packWorkers)
	opts := []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithWindowSize(ChunkTarget)}
	enc, err := zstd.NewWriter(nil, append(opts, zstd.WithEncoderConcurrency(n))...)
	if err != nil {
		return nil, err
	}
	stream, err := zstd.NewWriter(nil, opts...)
	if err != nil {
		return nil, err
	}
	p := &packer{w: w, enc: enc, work: make(chan *packJob, n), order: make(chan *packJob, n+2)}
	p.sw, p.streamEnc = &hashCounter{w: w, h: sha256.New()}, stream
	for range n {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range p.work {
				j.out <- p.enc.EncodeAll(j.raw, make([]byte, 0, len(j.raw)/2))
			}
		}()
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for j := range p.order {
			if j.barrier != nil {
				close(j.barrier)
				continue
			}
			frame := <-j.out
			if p.failed() != nil {
				continue // drain
			}
			if _, err := p.w.Write(frame); err != nil {
				p.fail(err)
				continue
			}
			sum := sha256.Sum256(frame)
			p.chunks = append(p.chunks, Chunk{Offset: p.off, Size: int64(len(frame)), First: j.first, SHA256: hex.EncodeToString(sum[:])})
			p.off += int64(len(frame))
		}
	}()
	return p, nil
}

// Write takes the next bytes of the tar stream.
func (p *packer) Write(b []byte) (int, error) {
	if p.streaming {
		return p.streamEnc.Write(b)
	}
	p.n += int64(len(b))
	return p.cur.Write(b)
}

// cut ends the current chunk at an entry boundary, after tw's padding of
// the last file; the next chunk starts at entry next.
func (p *packer) cut(tw *tar.Writer, next int) error {
	if err := tw.Flush(); err != nil {
		return err
	}
	return p.end(next)
}

// end hands the current chunk to the workers, or closes the big file's
// frame.
func (p *packer) end(next int) error {
	if p.streaming {
		p.streaming = false
		if err := p.streamEnc.Close(); err != nil {
			return err
		}
		p.chunks = append(p.chunks, Chunk{Offset: p.off, Size: p.sw.n, First: p.first, SHA256: hex.EncodeToString(p.sw.h.Sum(nil))})
		p.off += p.sw.n
	} else if p.n > 0 {
		j := &packJob{first: p.first, raw: p.cur.Bytes(), out: make(chan []byte, 1)}
		p.order <- j
		p.work <- j
		p.cur = bytes.Buffer{} // the job owns the bytes now
		p.cur.Grow(ChunkTarget + ChunkTarget/4)
	}
	p.first, p.n = next, 0
	return p.failed()
}

// startStream waits until every chunk so far is written, then sends what
// follows through the stream encoder straight to w.
func (p *packer) startStream() error {
	barrier := make(chan struct{})
	p.order <- &packJob{barrier: barrier}
	<-barrier
	if err := p.failed(); err != nil {
		return err
	}
	p.sw.h.Reset()
	p.sw.n = 0
	p.streamEnc.Reset(p.sw)
	p.streaming = true
	return nil
}

// finish writes the last chunk and waits until everything is on w.
func (p *packer) finish() error {
	if p.streaming || p.n > 0 {
		if err := p.end(p.first); err != nil {
			return err
		}
	}
	p.stop()
	return p.failed()
}

// stop ends the goroutines; a second call does nothing.
func (p *packer) stop() {
	if p.work == nil {
		return
	}
	close(p.work)
	close(p.order)
	p.wg.Wait()
	p.work = nil
}

// firstError keeps the first error of several goroutines.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstError) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// hashCounter writes to w, hashing and counting what it writes.
type hashCounter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.h.Write(b[:n])
	c.n += int64(n)
	return n, err
}

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
// they are written, with the mode and mtime of the archive (see
// relocator); a binary file that cannot be is a *RelocateError, before
// anything is written.
func Unpack(r io.ReaderAt, size int64, root string, m *Manifest, progress func(done, total int64)) error {
	if err := checkManifest(m, size); err != nil {
		return fmt.Errorf("failed to unpack: %w", err)
	}
	reloc, err := newRelocator(m, root)
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
	u := &unpacker{root: root, m: m, size: size, progress: progress, reloc: reloc}
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
	reloc    *relocator // nil: unpacked where it was packed
	mu       sync.Mutex // serializes calls to progress
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
	// zstd's own frame checksums (xxhash) are skipped: the chunk's sha256
	// already pins the compressed bytes, and so what they decode to; that
	// check cost 3% of staging's CPU. `zstd -d` still verifies them.
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
	last := len(u.m.Files)
	if i+1 < len(u.m.Chunks) {
		last = u.m.Chunks[i+1].First
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
// embedded that prefix must hold it no more (its sha256 is of the old
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
			sum := sha256.Sum256(data)
			if hex.EncodeToString(sum[:]) != e.SHA256 {
				return fmt.Errorf("failed to verify %s: content differs from manifest", e.Path)
			}
		}
	}
	return nil
}
