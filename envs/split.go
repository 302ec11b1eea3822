package envs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// A split file is a regular file larger than ChunkTarget, packed as a chunk
// holding its tar header and then pieces of its content (Chunk.Data). This
// file holds what Unpack does with them: check the layout, create the file
// before the workers start, write each piece at its offset, and set mode
// and mtime once every piece is in.

// splitFiles returns the entries that m packs in pieces, in order.
func splitFiles(m *Manifest) []int {
	var ks []int
	for _, c := range m.Chunks {
		if c.Data && c.At == 0 {
			ks = append(ks, c.First)
		}
	}
	return ks
}

// pieceLen is the content length of the piece at offset at of a file of
// size bytes, and pad the tar padding after it (in the last piece only).
func pieceLen(size, at int64) (n, pad int64) {
	n = min(size-at, ChunkTarget)
	if at+n == size {
		pad = (512 - size%512) % 512
	}
	return n, pad
}

// checkPiece checks chunk i's place among the pieces: a piece follows the
// header chunk of its file or the piece before it, pieces tile the file's
// content in ChunkTarget steps, and the chunk after the last piece starts
// at the next entry.
func checkPiece(m *Manifest, i int) error {
	c := m.Chunks[i]
	if !c.Data {
		if i > 0 && m.Chunks[i-1].Data && c.First != m.Chunks[i-1].First+1 {
			return errors.New("it does not start at the entry after a split file")
		}
		return nil
	}
	if i == 0 || c.First >= len(m.Files) {
		return errors.New("a piece of no file")
	}
	e, prev := m.Files[c.First], m.Chunks[i-1]
	if !e.Mode.IsRegular() || e.Size <= ChunkTarget {
		return fmt.Errorf("a piece of %q, which is not a big regular file", e.Path)
	}
	want := prev.At + ChunkTarget
	if !prev.Data {
		want = 0
	}
	if prev.First != c.First || c.At != want {
		return fmt.Errorf("piece of %q at %d is out of place", e.Path, c.At)
	}
	last := c.At+ChunkTarget >= e.Size
	if next := i + 1; next < len(m.Chunks) && m.Chunks[next].Data == last || next == len(m.Chunks) && !last {
		return fmt.Errorf("the pieces of %q do not cover it", e.Path)
	}
	return nil
}

// createSplit creates a split file, writable by its owner until finishSplit.
func createSplit(dst string) error {
	fd, err := unix.Open(dst, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("failed to create %s: %w", dst, err)
	}
	return unix.Close(fd)
}

// finishSplit gives a split file its mode and mtime.
func finishSplit(dst string, perm fs.FileMode, mtime time.Time) error {
	if err := unix.Fchmodat(unix.AT_FDCWD, dst, uint32(perm), 0); err != nil {
		return fmt.Errorf("failed to set the mode of %s: %w", dst, err)
	}
	mt := unix.NsecToTimespec(mtime.UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, []unix.Timespec{mt, mt}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("failed to set the mtime of %s: %w", dst, err)
	}
	return nil
}

// extractSplitHeader reads the header chunk of split file k: the tar
// header and nothing else. Its mtime is kept for finishSplit.
func (u *unpacker) extractSplitHeader(k int, zr *zstd.Decoder, buf []byte) error {
	want := u.m.Files[k]
	hdr, err := tar.NewReader(zr).Next()
	if err != nil {
		return err
	}
	if hdr.Name != want.Path || hdr.Typeflag != tar.TypeReg || hdr.Size != want.Size || fs.FileMode(hdr.Mode).Perm() != want.Mode.Perm() {
		return fmt.Errorf("%s: header does not match manifest entry %q", hdr.Name, want.Path)
	}
	if n, err := zr.Read(buf[:1]); n != 0 || !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: data after the header of a split file", hdr.Name)
	}
	u.mu.Lock()
	u.mtimes[k] = hdr.ModTime
	u.mu.Unlock()
	return nil
}

// extractPiece writes piece c at its offset in its file, and checks that
// the piece is exactly its content and, last, the tar padding of zeros.
func (u *unpacker) extractPiece(c Chunk, zr *zstd.Decoder, buf []byte) error {
	e := u.m.Files[c.First]
	dst := filepath.Join(u.root, filepath.FromSlash(e.Path))
	n, pad := pieceLen(e.Size, c.At)
	fd, err := unix.Open(dst, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	defer unix.Close(fd)
	off, end := c.At, c.At+n
	for {
		k, rerr := zr.Read(buf)
		b := buf[:k]
		if w := min(int64(len(b)), max(end-off, 0)); w > 0 {
			if err := pwriteAll(fd, b[:w], off); err != nil {
				return fmt.Errorf("%s: %w", e.Path, err)
			}
			off += w
			b = b[w:]
		}
		for _, x := range b { // after the content: padding
			if x != 0 || pad == 0 {
				return fmt.Errorf("%s: piece at %d holds more than its content and padding", e.Path, c.At)
			}
			pad--
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return fmt.Errorf("%s: %w", e.Path, rerr)
		}
	}
	if off != end || pad != 0 {
		return fmt.Errorf("%s: piece at %d is short: %w", e.Path, c.At, io.ErrUnexpectedEOF)
	}
	return nil
}

func pwriteAll(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}
