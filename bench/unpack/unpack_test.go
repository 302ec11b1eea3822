package unpack

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/senv-hpc/senv/envs"
)

// entry returns the cache entry under test (SENV_BENCH_ENTRY: a directory
// holding env.tar.zst and manifest.json) and a scratch directory to unpack
// into (SENV_BENCH_SCRATCH, else the test's temp dir).
func entry(b *testing.B) (archive string, m *envs.Manifest, scratch string) {
	dir := os.Getenv("SENV_BENCH_ENTRY")
	if dir == "" {
		b.Skip("SENV_BENCH_ENTRY is not set: bench/run.sh sets it to a cache entry (v1/envs/ID)")
	}
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		b.Fatal(err)
	}
	m = &envs.Manifest{}
	if err := json.Unmarshal(data, m); err != nil {
		b.Fatal(err)
	}
	scratch = os.Getenv("SENV_BENCH_SCRATCH")
	if scratch == "" {
		scratch = b.TempDir()
	}
	return filepath.Join(dir, "env.tar.zst"), m, scratch
}

// BenchmarkUnpack is the warm start's staging step as senv runs it.
func BenchmarkUnpack(b *testing.B) {
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
		info, err := f.Stat()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := envs.Unpack(f, info.Size(), dst, m, nil); err != nil {
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

// BenchmarkManifest is reading the manifest, which every cache hit does
// before it unpacks: manifest.gob as senv reads it (Cache.Manifest), and
// manifest.json for comparison.
func BenchmarkManifest(b *testing.B) {
	dir := os.Getenv("SENV_BENCH_ENTRY")
	if dir == "" {
		b.Skip("SENV_BENCH_ENTRY is not set: bench/run.sh sets it to a cache entry (v1/envs/ID)")
	}
	cache := envs.Cache{Root: filepath.Dir(filepath.Dir(dir))}
	id := filepath.Base(dir)
	b.Run("gob", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := cache.Manifest(id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
			if err != nil {
				b.Fatal(err)
			}
			var m envs.Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSteps takes the archive apart cumulatively, as one stream on one
// core: each step does the previous ones plus one more, so the differences
// are each step's cost. Step 3 hashes the compressed bytes, as staging
// does.
func BenchmarkSteps(b *testing.B) {
	archive, m, _ := entry(b)
	steps := []struct {
		name        string
		tar, sha256 bool
	}{
		{"1-decompress", false, false},
		{"2-decompress+tar", true, false},
		{"3-decompress+tar+sha256-of-archive", true, true},
	}
	for _, st := range steps {
		b.Run(st.name, func(b *testing.B) {
			b.SetBytes(m.Bytes)
			for i := 0; i < b.N; i++ {
				if err := readArchive(archive, st.tar, st.sha256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// readArchive reads archive as one stream, writing nothing.
func readArchive(archive string, readTar, hash bool) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	var in io.Reader = f
	h := sha256.New()
	if hash {
		in = io.TeeReader(f, h)
	}
	zr, err := zstd.NewReader(bufio.NewReaderSize(in, 1<<20))
	if err != nil {
		return err
	}
	defer zr.Close()
	buf := make([]byte, 256<<10)
	if !readTar {
		_, err := io.CopyBuffer(io.Discard, zr, buf)
		return err
	}
	tr := tar.NewReader(zr)
	for {
		_, err := tr.Next()
		if errors.Is(err, io.EOF) {
			h.Sum(nil)
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := io.CopyBuffer(io.Discard, tr, buf); err != nil {
			return err
		}
	}
}

// BenchmarkPack is the pack step of a build: envs.Pack of a staged env
// (SENV_BENCH_TREE) to io.Discard, so that only packing is measured.
func BenchmarkPack(b *testing.B) {
	tree := os.Getenv("SENV_BENCH_TREE")
	if tree == "" {
		b.Skip("SENV_BENCH_TREE is not set: a staged env to pack")
	}
	var m *envs.Manifest
	var err error
	for i := 0; i < b.N; i++ {
		if m, err = envs.Pack(tree, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(m.Bytes)
}
