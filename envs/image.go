package envs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// An env image is a squashfs file system holding the env, published beside
// its archive for the root Prolog to mount (see Mounts) instead of
// extracting it:
//
//	ROOT/envs/ID/image/env.sqfs    the env, its files relocated to Image.Prefix
//	ROOT/envs/ID/image/image.json  Image: where it must be mounted, its sha256
//
// The image dir is published with one rename that never replaces, so an
// entry has a whole image or none; it is the one thing added to an entry
// after it is published.
const (
	imageDir      = "image"
	imageName     = "env.sqfs"
	imageMetaName = "image.json"
	// ImageFormat is the only image format: squashfs is in every Linux
	// kernel and readable without root (squashfuse).
	ImageFormat = "squashfs"
)

// maxImageMeta bounds image.json: it is a few hundred bytes.
const maxImageMeta = 64 << 10

// Image describes the image of a cache entry.
type Image struct {
	Format string `json:"format"`
	// Prefix is where the image must be mounted: the path its files embed
	// (mount_dir/ID on the node that made it).
	Prefix string `json:"prefix"`
	SHA256 string `json:"sha256"` // of the whole file, as sha256sum prints it
	Bytes  int64  `json:"bytes"`
	// Blocks are the sha256 of each ImageBlock bytes of the file, in
	// order: a node checks them in parallel before its first mount.
	Blocks  []string  `json:"blocks"`
	Created time.Time `json:"created"`
	Seconds float64   `json:"seconds"` // time to make it
}

// HasImage reports whether entry id has a published image.
func (c Cache) HasImage(id string) bool {
	_, err := os.Stat(filepath.Join(c.Entry(id), imageDir, imageMetaName))
	return err == nil
}

// Image reads the image metadata of entry id (trusted like every file of
// an entry); fs.ErrNotExist when it has none.
func (c Cache) Image(id string) (*Image, error) {
	f, err := c.open(id, imageDir+"/"+imageMetaName)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxImageMeta+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", f.Name(), err)
	}
	if len(data) > maxImageMeta {
		return nil, damaged("refusing %s: larger than %d bytes", f.Name(), maxImageMeta)
	}
	var img Image
	if err := json.Unmarshal(data, &img); err != nil {
		return nil, damaged("failed to parse %s: %v", f.Name(), err)
	}
	if img.Format != ImageFormat || !filepath.IsAbs(img.Prefix) || len(img.SHA256) != 64 || img.Bytes <= 0 ||
		int64(len(img.Blocks)) != (img.Bytes+ImageBlock-1)/ImageBlock {
		return nil, damaged("refusing %s: not a %s image's description", f.Name(), ImageFormat)
	}
	return &img, nil
}

// openImage opens the image file of entry id, trusted like its metadata.
func (c Cache) openImage(id string) (*os.File, error) {
	return c.open(id, imageDir+"/"+imageName)
}

// ImageTool is the program that makes images.
const ImageTool = "mksquashfs"

// PublishImage makes the image of entry id, for mounting at
// mountDir/ID, and publishes it into the entry. It unpacks the archive
// into node-local scratch with its files relocated to that prefix, runs
// mksquashfs on it (lz4, 1 MiB blocks, every file owned by root), and
// hashes the result. An entry that has an image keeps it (nil error). Call
// it under id's build lock.
//
// lz4, not zstd: a job's first `import torch` reads about 0.9 GB of shared
// libraries through the kernel's squashfs decompressor, which may be one
// per file system (CONFIG_SQUASHFS_DECOMP_SINGLE, as on the benchmark's
// kernel). With lz4 that import took 4.2 s against 5.1 s with zstd (hot,
// from a staged env: 2.6 s; medians of 6 alternating runs on the torch
// stack), and mksquashfs ran in 8 s instead of 21; the image is 3.3 GiB
// instead of 2.6. The nodes' kernel needs squashfs with lz4
// (CONFIG_SQUASHFS_LZ4); images that earlier versions made with zstd mount
// as they are. Where a mount fails, the job stages.
func (c Cache) PublishImage(ctx context.Context, id, mountDir string) (*Image, error) {
	if c.ReadOnly {
		return nil, c.readOnly("publish the image of env " + id)
	}
	if img, err := c.Image(id); err == nil {
		return img, nil
	}
	tool, err := exec.LookPath(ImageTool)
	if err != nil {
		return nil, fmt.Errorf("failed to make the image of env %s: %s is not on PATH (install squashfs-tools)", id, ImageTool)
	}
	if !filepath.IsAbs(mountDir) {
		return nil, fmt.Errorf("failed to make the image of env %s: mount_dir %q is not an absolute path", id, mountDir)
	}
	start := time.Now()
	m, err := c.manifest(id, nil)
	if err != nil {
		return nil, refuseEntry(id, err)
	}
	f, err := c.open(id, archiveName)
	if err != nil {
		return nil, refuseEntry(id, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("failed to make the image of env %s: %w", id, err)
	}
	scratch, err := NewScratch("image", c.Trust)
	if err != nil {
		return nil, err
	}
	defer scratch.Remove()
	tree := filepath.Join(scratch.Path, id)
	prefix := filepath.Join(mountDir, id)
	if err := unpack(f, info.Size(), tree, prefix, m, nil); err != nil {
		return nil, fmt.Errorf("failed to make the image of env %s: %w", id, err)
	}
	if err := readableByAll(tree); err != nil {
		return nil, fmt.Errorf("failed to make the image of env %s: %w", id, err)
	}
	tmp, err := os.MkdirTemp(filepath.Join(c.Root, "tmp"), tempPrefix(id, "image"))
	if err != nil {
		return nil, fmt.Errorf("failed to make the image of env %s: %w", id, err)
	}
	defer os.RemoveAll(tmp)
	file := filepath.Join(tmp, imageName)
	cmd := exec.CommandContext(ctx, tool, tree, file, "-comp", "lz4", "-b", "1M",
		"-noappend", "-all-root", "-no-xattrs", "-quiet")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("failed to make the image of env %s: %s: %w%s", id, ImageTool, err, tail(string(out), 10))
	}
	img := &Image{Format: ImageFormat, Prefix: prefix, Created: time.Now().UTC()}
	if img.SHA256, img.Blocks, img.Bytes, err = hashImage(file); err != nil {
		return nil, fmt.Errorf("failed to make the image of env %s: %w", id, err)
	}
	img.Seconds = time.Since(start).Seconds()
	data, _ := json.MarshalIndent(img, "", " ")
	if err := writeReadable(filepath.Join(tmp, imageMetaName), data); err != nil {
		return nil, fmt.Errorf("failed to make the image of env %s: %w", id, err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		return nil, fmt.Errorf("failed to make the image of env %s: %w", id, err)
	}
	if err := syncFile(file); err != nil {
		return nil, fmt.Errorf("failed to make the image of env %s: %w", id, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("failed to make the image of env %s: %w", id, err)
	}
	syncDir(tmp)
	err = renameNoReplace(tmp, filepath.Join(c.Entry(id), imageDir))
	syncDir(c.Entry(id))
	if errors.Is(err, fs.ErrExist) {
		return c.Image(id) // another publisher won
	}
	if err != nil {
		return nil, fmt.Errorf("failed to make the image of env %s: %w", id, err)
	}
	return img, nil
}

// syncFile syncs the file at path to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readableByAll makes every file and dir of tree readable (and searchable,
// or executable where the owner may execute) by everyone, as chmod -R a+rX
// would: in an image every file is root's, and a job user must still read
// what a staged copy, the user's own, would let them read.
func readableByAll(tree string) error {
	return filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		perm := info.Mode().Perm() | 0o444
		if d.IsDir() || perm&0o100 != 0 {
			perm |= 0o111
		}
		if perm == info.Mode().Perm() {
			return nil
		}
		return os.Chmod(p, perm|info.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
	})
}

// ImageBlock is the unit of an image's check: each block's sha256 is in
// image.json, and a node hashes the blocks on every core.
const ImageBlock = 64 << 20

// hashImage returns the sha256 (hex) of the file at path, those of its
// ImageBlock blocks, and its size, in one read.
func hashImage(path string) (string, []string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, 0, err
	}
	defer f.Close()
	whole := sha256.New()
	var blocks []string
	var n int64
	buf := make([]byte, 1<<20)
	for {
		block := sha256.New()
		k, err := io.CopyBuffer(io.MultiWriter(whole, block), io.LimitReader(f, ImageBlock), buf)
		if err != nil {
			return "", nil, 0, err
		}
		if k == 0 {
			break
		}
		n += k
		blocks = append(blocks, hex.EncodeToString(block.Sum(nil)))
	}
	return hex.EncodeToString(whole.Sum(nil)), blocks, n, nil
}

// checkBlocks checks each ImageBlock block of f against img.Blocks, on
// every core (at most 8 readers), and stops at the first block that
// differs or at ctx's deadline. It returns the index of a block that
// differs, or -1.
func checkBlocks(parent context.Context, f *os.File, img *Image) (int, error) {
	ctx, stop := context.WithCancel(parent) // stopped at the first bad block
	defer stop()
	next := make(chan int)
	bad := -1
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(img.Blocks), 8) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20)
			for i := range next {
				h := sha256.New()
				r := io.NewSectionReader(f, int64(i)*ImageBlock, ImageBlock)
				_, err := io.CopyBuffer(h, readerCtx{ctx, r}, buf)
				mu.Lock()
				switch {
				case bad >= 0:
				case err != nil && firstErr == nil:
					firstErr = err
				case err == nil && hex.EncodeToString(h.Sum(nil)) != img.Blocks[i]:
					bad = i
					stop()
				}
				mu.Unlock()
			}
		}()
	}
	for i := range img.Blocks {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if bad >= 0 {
		return bad, nil
	}
	if firstErr == nil {
		firstErr = parent.Err()
	}
	return -1, firstErr
}
