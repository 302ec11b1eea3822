package unpack

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
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/senv-hpc/senv/envs"
)

// BenchmarkUnpackParallel measures a prototype of the proposed change to
// envs.Unpack: the reading goroutine only decompresses and parses the tar
// (directories and symlinks it creates in archive order, so parents exist
// first); each small regular file's bytes go to a pool of workers that
// create, write, hash-check and set the archived mtime. Same checks as
// envs.Unpack. It is a prototype for numbers, not senv's code.
func BenchmarkUnpackParallel(b *testing.B) {
	archive, m, scratch := entry(b)
	b.SetBytes(m.Bytes)
	for i := 0; i < b.N; i++ {
		dst := filepath.Join(scratch, "unpack")
		b.StopTimer()
		if err := os.RemoveAll(dst); err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(archive)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := unpackParallel(f, dst, m, runtime.GOMAXPROCS(0)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		f.Close()
		if err := os.RemoveAll(dst); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

type fileJob struct {
	dst  string
	data []byte
	want envs.FileEntry
	hdr  *tar.Header
}

// inlineMax is the largest file handed to a worker; bigger ones are
// written by the reader itself, streaming, so memory stays bounded.
const inlineMax = 1 << 20

func unpackParallel(r io.Reader, root string, m *envs.Manifest, workers int) error {
	zr, err := zstd.NewReader(bufio.NewReaderSize(r, 1<<20))
	if err != nil {
		return err
	}
	defer zr.Close()
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	jobs := make(chan fileJob, 256)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	fail := func(err error) { once.Do(func() { firstErr = err }) }
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := sha256.New()
			for j := range jobs {
				if err := writeFile(j, h); err != nil {
					fail(fmt.Errorf("%s: %w", j.want.Path, err))
				}
			}
		}()
	}
	err = readEntries(zr, root, m, jobs)
	close(jobs)
	wg.Wait()
	if err != nil {
		return err
	}
	return firstErr
}

func readEntries(zr io.Reader, root string, m *envs.Manifest, jobs chan<- fileJob) error {
	tr := tar.NewReader(zr)
	buf := make([]byte, 256<<10)
	h := sha256.New()
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if i != len(m.Files) {
				return errors.New("archive shorter than manifest")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if i >= len(m.Files) || hdr.Name != m.Files[i].Path {
			return errors.New("archive does not match manifest")
		}
		want := m.Files[i]
		dst := filepath.Join(root, filepath.FromSlash(hdr.Name))
		perm := fs.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(dst, perm); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, dst); err != nil {
				return err
			}
		case tar.TypeReg:
			if hdr.Size != want.Size {
				return errors.New("size does not match manifest")
			}
			if hdr.Size > inlineMax {
				if err := writeStream(tr, dst, hdr, want, buf, h); err != nil {
					return err
				}
				continue
			}
			data := make([]byte, hdr.Size)
			if _, err := io.ReadFull(tr, data); err != nil {
				return err
			}
			jobs <- fileJob{dst: dst, data: data, want: want, hdr: hdr}
		default:
			return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
		}
	}
}

func writeFile(j fileJob, h interface {
	io.Writer
	Reset()
	Sum([]byte) []byte
}) error {
	h.Reset()
	h.Write(j.data)
	if hex.EncodeToString(h.Sum(nil)) != j.want.SHA256 {
		return errors.New("content does not match manifest sha256")
	}
	f, err := os.OpenFile(j.dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(j.hdr.Mode).Perm())
	if err != nil {
		return err
	}
	_, err = f.Write(j.data)
	if err == nil {
		err = setMtime(f, j.hdr)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func writeStream(tr io.Reader, dst string, hdr *tar.Header, want envs.FileEntry, buf []byte, h interface {
	io.Writer
	Reset()
	Sum([]byte) []byte
}) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(hdr.Mode).Perm())
	if err != nil {
		return err
	}
	h.Reset()
	_, err = io.CopyBuffer(io.MultiWriter(f, h), tr, buf)
	if err == nil {
		err = setMtime(f, hdr)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && hex.EncodeToString(h.Sum(nil)) != want.SHA256 {
		err = errors.New("content does not match manifest sha256")
	}
	return err
}

// setMtime gives an open file its archived mtime (and atime) through its
// fd: futimens(2), which x/sys/unix spells utimensat(fd, NULL, ...).
func setMtime(f *os.File, hdr *tar.Header) error {
	ts := unix.NsecToTimespec(hdr.ModTime.UnixNano())
	return unix.UtimesNanoAt(int(f.Fd()), "", []unix.Timespec{ts, ts}, unix.AT_EMPTY_PATH)
}
