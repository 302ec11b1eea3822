package envs

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
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
	Path string      `json:"path"` // slash-separated, relative to the env root
	Mode fs.FileMode `json:"mode"`
	Size int64       `json:"size,omitempty"`
	// CRC32C is the CRC-32C of a regular file's content, in hex: what
	// Verify compares a staged env with. It guards against a staging bug,
	// not an attacker; what staging trusts is each chunk's sha256.
	CRC32C string `json:"crc32c,omitempty"`
	Link   string `json:"link,omitempty"`
	// Embeds is EmbedsText or EmbedsBinary for a regular file that holds
	// Manifest.Prefix, EmbedsText for a symlink whose target is inside it,
	// and "" for the rest.
	Embeds string `json:"embeds,omitempty"`
}

// Chunk is one zstd frame of the archive. A frame holds whole tar entries
// (or a piece of one, below), so chunks can be decompressed and extracted
// in parallel, while the archive as a whole stays one plain tar stream
// (`zstd -d | tar -x` reads it). The sha256 of the compressed bytes is
// what staging verifies.
//
// A regular file larger than ChunkTarget is split: a chunk holding only its
// tar header, then pieces (Data set), each the raw bytes of ChunkTarget of
// its content from At, the last one followed by the tar padding. Pieces
// are compressed and extracted in parallel like any chunk, so one big
// shared library does not leave every core but one idle.
type Chunk struct {
	Offset int64  `json:"offset"`         // of the frame in the archive
	Size   int64  `json:"size"`           // compressed bytes
	First  int    `json:"first"`          // index in Files of its first entry
	SHA256 string `json:"sha256"`         // of the compressed bytes
	Data   bool   `json:"data,omitempty"` // a piece of entry First's content
	At     int64  `json:"at,omitempty"`   // a piece's offset in that content
}

// castagnoli is the CRC-32C table: the polynomial that amd64 and arm64 compute
// in hardware, some 16 times as fast as sha256 here, which left packing a
// torch stack 4 s of CPU of hashing every file.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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
// larger than a chunk is cut into pieces of ChunkTarget bytes (see Chunk),
// which the workers compress like any chunk.
// The level is zstd's default: for the torch stack (5.2 GiB, mostly big
// shared libraries) it packs 2.5 times as fast as the next level up, for
// an archive 2% larger. The window is one chunk (a larger one gains nothing
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
		if big { // the header is a chunk of its own; the content goes in pieces
			if err := p.end(len(m.Files)); err != nil {
				return err
			}
			p.startPieces(info.Size())
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			h := crc32.New(castagnoli)
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
			e.Size, e.CRC32C, e.Embeds = n, hex.EncodeToString(h.Sum(nil)), scan.embeds()
			m.Bytes += n
		}
		m.Files = append(m.Files, e)
		if big { // the last piece, with the tar padding
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

	cur   []byte // the current chunk, uncompressed
	n     int64  // bytes in the current chunk
	first int    // index of its first entry

	// a big file's content is being cut into pieces
	pieces bool
	at     int64 // content offset of the current piece
	inCur  int64 // content bytes in the current piece
	left   int64 // content bytes not written yet; after them comes padding

	enc   *zstd.Encoder // EncodeAll, called by the workers concurrently
	fast  *zstd.Encoder // the same at zstd's fastest level, for pieces of big files
	work  chan *packJob // to the compressing workers
	order chan *packJob // to the writer, in archive order
	free  chan []byte   // buffers of chunks written, for new ones
	wg    sync.WaitGroup
	firstError
}

// packJob is one chunk on its way to w.
type packJob struct {
	first int
	data  bool  // a piece of a big file
	at    int64 // its offset in the file's content
	raw   []byte
	out   chan frame
}

// frame is a compressed chunk and its sha256, made by a worker.
type frame struct {
	data []byte
	sum  [sha256.Size]byte
}

// packWorkers bounds Pack's compressing workers: chunks in flight cost
// memory (about 10 MiB each, raw and compressed).
const packWorkers = 8

// chunkBufSize is the capacity of a new chunk buffer: a chunk ends at the
// first entry boundary after ChunkTarget bytes, and a compressed piece
// that did not shrink is a little larger than its input.
const chunkBufSize = ChunkTarget + ChunkTarget/4

// newPacker starts the compressing workers and the writer. Pieces of big
// files (shared libraries: 4.9 of the torch stack's 5.2 GiB)
// are compressed at zstd's fastest level, which packs them 2.3 times as
// fast as the default level for 1 % more archive (libtorch_cuda.so: 785
// against 342 MB/s on one core); the rest, Python sources mostly, at the
// default level. Workers hash what they compress.
//
// The frames carry no xxhash checksum of their content: the manifest's
// sha256 of each frame is what staging checks (it ignores the checksum),
// and computing it cost a torch-sized pack about 1 s of CPU. Chunk
// buffers are reused once written, rather than allocated (and zeroed)
// for each chunk.
func newPacker(w io.Writer) (*packer, error) {
	n := min(runtime.GOMAXPROCS(0), packWorkers)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithWindowSize(ChunkTarget),
		zstd.WithEncoderConcurrency(n), zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, err
	}
	fast, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(ChunkTarget),
		zstd.WithEncoderConcurrency(n), zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, err
	}
	p := &packer{w: w, enc: enc, fast: fast, work: make(chan *packJob, n), order: make(chan *packJob, n+2),
		free: make(chan []byte, 2*n+4)}
	p.cur = p.buffer()
	for range n {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range p.work {
				e := p.enc
				if j.data {
					e = p.fast
				}
				f := frame{data: e.EncodeAll(j.raw, p.buffer())}
				f.sum = sha256.Sum256(f.data)
				p.recycle(j.raw)
				j.out <- f
			}
		}()
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for j := range p.order {
			f := <-j.out
			if p.failed() != nil {
				continue // drain
			}
			if _, err := p.w.Write(f.data); err != nil {
				p.fail(err)
				continue
			}
			p.chunks = append(p.chunks, Chunk{Offset: p.off, Size: int64(len(f.data)), First: j.first,
				SHA256: hex.EncodeToString(f.sum[:]), Data: j.data, At: j.at})
			p.off += int64(len(f.data))
			p.recycle(f.data)
		}
	}()
	return p, nil
}

// buffer returns an empty chunk buffer, a reused one if there is one.
func (p *packer) buffer() []byte {
	select {
	case b := <-p.free:
		return b
	default:
		return make([]byte, 0, chunkBufSize)
	}
}

// recycle keeps b for a later chunk, or leaves it to the garbage collector
// when enough are kept.
func (p *packer) recycle(b []byte) {
	select {
	case p.free <- b[:0]:
	default:
	}
}

// Write takes the next bytes of the tar stream. While a big file's content
// is written, a piece ends after ChunkTarget bytes of it; the padding after
// the content stays in the last piece.
func (p *packer) Write(b []byte) (int, error) {
	n := len(b)
	for p.pieces && len(b) > 0 && p.left > 0 {
		if p.inCur == ChunkTarget {
			if err := p.end(p.first); err != nil {
				return n - len(b), err
			}
		}
		k := min(int64(len(b)), ChunkTarget-p.inCur, p.left)
		p.cur = append(p.cur, b[:k]...)
		p.n, p.inCur, p.left = p.n+k, p.inCur+k, p.left-k
		b = b[k:]
	}
	p.n += int64(len(b))
	p.cur = append(p.cur, b...)
	return n, nil
}

// startPieces starts cutting the next size bytes of content into pieces.
func (p *packer) startPieces(size int64) {
	p.pieces, p.at, p.inCur, p.left = true, 0, 0, size
}

// cut ends the current chunk at an entry boundary, after tw's padding of
// the last file; the next chunk starts at entry next.
func (p *packer) cut(tw *tar.Writer, next int) error {
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := p.end(next); err != nil {
		return err
	}
	p.pieces = false
	return nil
}

// end hands the current chunk to the workers; the next one starts at entry
// next. Ending a piece starts the next piece of the same file.
func (p *packer) end(next int) error {
	if p.n > 0 {
		j := &packJob{first: p.first, data: p.pieces, at: p.at, raw: p.cur, out: make(chan frame, 1)}
		p.order <- j
		p.work <- j
		p.cur = p.buffer() // the job owns the bytes now
	}
	if p.pieces {
		p.at += p.inCur
		p.inCur = 0
	}
	p.first, p.n = next, 0
	return p.failed()
}

// finish writes the last chunk and waits until everything is on w.
func (p *packer) finish() error {
	if p.n > 0 {
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
