package envs

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
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
}

// FileEntry is one file, directory or symlink of an environment.
type FileEntry struct {
	Path   string      `json:"path"` // slash-separated, relative to the env root
	Mode   fs.FileMode `json:"mode"`
	Size   int64       `json:"size,omitempty"`
	SHA256 string      `json:"sha256,omitempty"`
	Link   string      `json:"link,omitempty"`
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
func Pack(root string, w io.Writer) (*Manifest, error) {
	m := &Manifest{}
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
			n, err := io.CopyBuffer(io.MultiWriter(tw, h), f, buf)
			f.Close()
			if err != nil {
				return err
			}
			if n != info.Size() {
				return fmt.Errorf("%s changed size while packing", path)
			}
			e.Size, e.SHA256 = n, hex.EncodeToString(h.Sum(nil))
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
