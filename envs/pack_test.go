package envs

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// tree writes a small env-like tree: files with modes, a subdir, symlinks.
func tree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "env")
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.MkdirAll(filepath.Join(root, "lib", "pkg"), 0o755)
	os.WriteFile(filepath.Join(root, "bin", "tool"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.WriteFile(filepath.Join(root, "lib", "pkg", "mod.py"), []byte("X = 1\n"), 0o644)
	os.WriteFile(filepath.Join(root, "lib", "empty"), nil, 0o600)
	os.Symlink("/usr/bin/python3", filepath.Join(root, "bin", "python"))
	os.Symlink("python", filepath.Join(root, "bin", "python3"))
	return root
}

// packBytes packs root in memory.
func packBytes(t *testing.T, root string) ([]byte, *Manifest) {
	t.Helper()
	var buf bytes.Buffer
	m, err := Pack(root, &buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), m
}

// unpackBytes unpacks an in-memory archive into a new directory.
func unpackBytes(data []byte, m *Manifest) (string, error) {
	dst := filepath.Join(os.TempDir(), "senv-unpack-test-"+randomSuffix())
	err := Unpack(bytes.NewReader(data), int64(len(data)), dst, m, nil)
	return dst, err
}

// unpackVerified unpacks an in-memory archive, fails the test unless the
// result matches the manifest, and returns where it went.
func unpackVerified(t *testing.T, data []byte, m *Manifest) string {
	t.Helper()
	dst, err := unpackBytes(data, m)
	t.Cleanup(func() { removeTree(dst) })
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(dst, m); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestPackUnpackRoundTrip(t *testing.T) {
	src := tree(t)
	data, m := packBytes(t, src)
	if m.Count() != 3 || m.Bytes != int64(len("#!/bin/sh\necho hi\n")+len("X = 1\n")) {
		t.Errorf("manifest: %d files, %d bytes", m.Count(), m.Bytes)
	}
	if len(m.Chunks) != 1 || m.Chunks[0].Size != int64(len(data)) {
		t.Errorf("a small env is one chunk of the whole archive: %+v", m.Chunks)
	}
	dst := unpackVerified(t, data, m)
	if link, _ := os.Readlink(filepath.Join(dst, "bin", "python")); link != "/usr/bin/python3" {
		t.Errorf("symlink target %q", link)
	}
	if info, _ := os.Stat(filepath.Join(dst, "lib", "empty")); info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	// each file's checksum is CRC-32C (RFC 3720 B.4): of "X = 1\n" as a
	// bitwise implementation of the reflected polynomial 0x82F63B78 gives
	// it (the same gives e3069283 for "123456789"), and of nothing
	want := map[string]string{"lib/pkg/mod.py": "55a4bed4", "lib/empty": "00000000"}
	for _, e := range m.Files {
		if w, ok := want[e.Path]; ok {
			if e.CRC32C != w {
				t.Errorf("%s: crc32c %q, want %q", e.Path, e.CRC32C, w)
			}
			delete(want, e.Path)
		}
	}
	if len(want) > 0 {
		t.Errorf("not in the manifest: %v", want)
	}
	// and Verify reads it: one byte changed, same size and mode
	os.WriteFile(filepath.Join(dst, "lib", "pkg", "mod.py"), []byte("X = 2\n"), 0o644)
	if err := Verify(dst, m); err == nil || !strings.Contains(err.Error(), "lib/pkg/mod.py: content differs") {
		t.Errorf("Verify of a changed file: %v", err)
	}
}

// bigTree adds enough poorly compressible data to src for several chunks,
// including one file larger than a chunk, and a read-only directory.
func bigTree(t *testing.T) string {
	t.Helper()
	src := tree(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	block := make([]byte, 300<<10)
	for i := range 40 {
		dir := filepath.Join(src, "lib", fmt.Sprintf("d%d", i%4))
		os.MkdirAll(dir, 0o755)
		for j := range block {
			block[j] = byte(rnd.IntN(64))
		}
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d.so", i)), block, 0o755)
	}
	huge := make([]byte, ChunkTarget+(1<<20))
	for j := range huge {
		huge[j] = byte(rnd.IntN(64))
	}
	os.WriteFile(filepath.Join(src, "lib", "huge.so"), huge, 0o644)
	// split in pieces: exactly two, with no tar padding; and one read-only
	os.WriteFile(filepath.Join(src, "lib", "two.so"), bytes.Repeat(huge[:1<<20], 2*ChunkTarget>>20), 0o755)
	os.WriteFile(filepath.Join(src, "lib", "ro.so"), huge[:ChunkTarget+1], 0o444)
	long := filepath.Join(src, "lib", strings.Repeat("deep-directory-name/", 8))
	os.MkdirAll(long, 0o755)
	os.WriteFile(filepath.Join(long, strings.Repeat("x", 150)+".py"), []byte("# a path longer than ustar's 100+155 bytes\n"), 0o644)
	os.MkdirAll(filepath.Join(src, "..data"), 0o755) // Kubernetes-style name: local, not ".."
	os.WriteFile(filepath.Join(src, "..data", "x"), []byte("x"), 0o644)
	ro := filepath.Join(src, "share", "ro")
	os.MkdirAll(ro, 0o755)
	os.WriteFile(filepath.Join(ro, "data"), []byte("read-only dir"), 0o444)
	os.Chmod(ro, 0o555)
	t.Cleanup(func() { os.Chmod(ro, 0o755) })
	return src
}

// TestPackChunks: a larger env is several zstd frames that unpack in
// parallel, and the archive is still one plain tar stream that
// `zstd -d | tar -x` reads (checked with the real tools, and with Go's
// stream decoder).
func TestPackChunks(t *testing.T) {
	src := bigTree(t)
	data, m := packBytes(t, src)
	if len(m.Chunks) < 3 {
		t.Fatalf("%d chunks for %d bytes, want at least 3", len(m.Chunks), m.Bytes)
	}
	var done, total int64
	dst := filepath.Join(t.TempDir(), "out")
	err := Unpack(bytes.NewReader(data), int64(len(data)), dst, m, func(d, tot int64) { done, total = d, tot })
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(dst, m); err != nil {
		t.Fatal(err)
	}
	if done != int64(len(data)) || total != int64(len(data)) {
		t.Errorf("progress ended at %d of %d, want %d", done, total, len(data))
	}
	split := 0
	for _, c := range m.Chunks {
		if c.Data && c.At == 0 {
			split++
		}
	}
	if split != 3 {
		t.Errorf("%d files split in pieces, want huge.so, two.so and ro.so", split)
	}
	// each frame's header (RFC 8878 3.1.1.1.1): no Content_Checksum_flag,
	// since staging checks the frame's sha256 instead
	for i, c := range m.Chunks {
		if f := data[c.Offset:]; len(f) < 5 || f[0] != 0x28 || f[1] != 0xb5 || f[2] != 0x2f || f[3] != 0xfd || f[4]&0x04 != 0 {
			t.Fatalf("chunk %d does not start a zstd frame without a content checksum: % x", i, f[:min(len(f), 5)])
		}
	}
	for name, want := range map[string]fs.FileMode{"lib/ro.so": 0o444, "lib/two.so": 0o755} {
		if info, err := os.Stat(filepath.Join(dst, name)); err != nil || info.Mode().Perm() != want {
			t.Errorf("split file %s staged with %v (%v), want mode %v", name, info.Mode(), err, want)
		}
	}
	if info, _ := os.Stat(filepath.Join(dst, "share", "ro")); info.Mode().Perm() != 0o555 {
		t.Errorf("read-only dir staged with mode %v", info.Mode().Perm())
	}
	os.Chmod(filepath.Join(dst, "share", "ro"), 0o755)

	zr, _ := zstd.NewReader(bytes.NewReader(data))
	defer zr.Close()
	tr := tar.NewReader(zr)
	n := 0
	for ; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil || hdr.Name != m.Files[n].Path {
			t.Fatalf("entry %d of the whole stream: %v %v", n, hdr, err)
		}
	}
	if n != len(m.Files) {
		t.Errorf("the whole stream has %d entries, the manifest %d", n, len(m.Files))
	}

	if _, err := exec.LookPath("zstd"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("zstd is not installed; .ci/run installs it")
		}
		t.Skip("zstd not installed")
	}
	archive := filepath.Join(t.TempDir(), "env.tar.zst")
	os.WriteFile(archive, data, 0o644)
	out := filepath.Join(t.TempDir(), "tar")
	os.Mkdir(out, 0o755)
	cmd := exec.Command("sh", "-c", `zstd -q -d -c "$1" | tar -x -C "$2"`, "sh", archive, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("zstd -d | tar -x: %v\n%s", err, b)
	}
	defer os.Chmod(filepath.Join(out, "share", "ro"), 0o755)
	if err := Verify(out, m); err != nil {
		t.Errorf("what zstd and tar extract differs from the manifest: %v", err)
	}
}

// TestUnpackRefusesMismatch: a staged env is used only if it matches the
// manifest; tampering with either is an error, and the chunk hashes catch
// a changed byte anywhere in the archive.
func TestUnpackRefusesMismatch(t *testing.T) {
	data, m := packBytes(t, bigTree(t))
	fileIdx := func(m *Manifest, name string) int {
		for i := range m.Files {
			if m.Files[i].Path == name {
				return i
			}
		}
		t.Fatalf("no %s", name)
		return 0
	}
	piece := func(m *Manifest, name string) int { // the chunk of name's first piece
		k := fileIdx(m, name)
		for i, c := range m.Chunks {
			if c.Data && c.First == k {
				return i
			}
		}
		t.Fatalf("%s is not split", name)
		return 0
	}
	cases := map[string]func(m *Manifest, data []byte){
		"piece offset":     func(m *Manifest, _ []byte) { m.Chunks[piece(m, "lib/huge.so")+1].At -= 512 },
		"piece not data":   func(m *Manifest, _ []byte) { m.Chunks[piece(m, "lib/huge.so")].Data = false },
		"last piece data":  func(m *Manifest, _ []byte) { m.Chunks[piece(m, "lib/two.so")+2].Data = true },
		"small file piece": func(m *Manifest, _ []byte) { m.Chunks[1].Data = true },
		"split file size":  func(m *Manifest, _ []byte) { m.Files[fileIdx(m, "lib/two.so")].Size -= 1 },
		"split file mode":  func(m *Manifest, _ []byte) { m.Files[fileIdx(m, "lib/ro.so")].Mode = 0o644 },
		"chunk hash":       func(m *Manifest, _ []byte) { m.Chunks[1].SHA256 = strings.Repeat("0", 64) },
		"byte in archive":  func(_ *Manifest, data []byte) { data[m.Chunks[1].Offset+m.Chunks[1].Size/2] ^= 1 },
		"last byte":        func(_ *Manifest, data []byte) { data[len(data)-1] ^= 1 },
		"size":             func(m *Manifest, _ []byte) { m.Files[fileIdx(m, "lib/pkg/mod.py")].Size++ },
		"mode":             func(m *Manifest, _ []byte) { m.Files[0].Mode ^= 0o020 },
		"missing entry":    func(m *Manifest, _ []byte) { m.Files = m.Files[:len(m.Files)-1] },
		"extra entry":      func(m *Manifest, _ []byte) { m.Files = append(m.Files, FileEntry{Path: "zzz", Mode: 0o644}) },
		"path":             func(m *Manifest, _ []byte) { m.Files[0].Path = "other" },
		"symlink":          func(m *Manifest, _ []byte) { m.Files[fileIdx(m, "bin/python")].Link = "/elsewhere" },
		"file is a dir":    func(m *Manifest, _ []byte) { m.Files[fileIdx(m, "lib/empty")].Mode = fs.ModeDir | 0o600 },
		"chunk boundary":   func(m *Manifest, _ []byte) { m.Chunks[1].First++ },
		"chunk offset":     func(m *Manifest, _ []byte) { m.Chunks[1].Offset++ },
		"chunk missing":    func(m *Manifest, _ []byte) { m.Chunks = m.Chunks[:len(m.Chunks)-1] },
		"no chunks":        func(m *Manifest, _ []byte) { m.Chunks = nil },
		"duplicate path":   func(m *Manifest, _ []byte) { m.Files[1].Path = m.Files[0].Path },
		"chunk first past": func(m *Manifest, _ []byte) { m.Chunks[len(m.Chunks)-1].First = len(m.Files) + 1 },
		"first chunk late": func(m *Manifest, _ []byte) { m.Chunks[0].First = 1 },
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			bad := *m
			bad.Files = append([]FileEntry(nil), m.Files...)
			bad.Chunks = append([]Chunk(nil), m.Chunks...)
			badData := append([]byte(nil), data...)
			tamper(&bad, badData)
			dst, err := unpackBytes(badData, &bad)
			os.Chmod(filepath.Join(dst, "share", "ro"), 0o755)
			os.RemoveAll(dst)
			if err == nil {
				t.Error("unpack accepted an archive that differs from its manifest")
			}
			damaged := name == "chunk hash" || name == "byte in archive" || name == "last byte"
			if damaged != errors.Is(err, ErrDamaged) {
				t.Errorf("errors.Is(err, ErrDamaged) = %v, want %v: %v", !damaged, damaged, err)
			}
		})
	}
}

// rawArchive writes entries as one chunk, the way a hostile cache entry
// could, and returns the archive and its manifest.
func rawArchive(t *testing.T, files []FileEntry, write func(tw *tar.Writer)) ([]byte, *Manifest) {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	write(tw)
	tw.Close()
	zw.Close()
	sum := sha256.Sum256(buf.Bytes())
	return buf.Bytes(), &Manifest{Files: files,
		Chunks: []Chunk{{Size: int64(buf.Len()), SHA256: hex.EncodeToString(sum[:])}}}
}

// TestUnpackRefusesTraversal: entries may not leave the env root, even
// when the manifest agrees with the archive.
func TestUnpackRefusesTraversal(t *testing.T) {
	for _, name := range []string{"../evil", "/abs", "a/../../evil", "./x"} {
		data, m := rawArchive(t, []FileEntry{{Path: name, Mode: 0o644, Size: 1}}, func(tw *tar.Writer) {
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
			tw.Write([]byte("x"))
		})
		dir := t.TempDir()
		if err := Unpack(bytes.NewReader(data), int64(len(data)), filepath.Join(dir, "out"), m, nil); err == nil {
			t.Errorf("%q: accepted", name)
		}
		if _, err := os.Stat(filepath.Join(dir, "evil")); err == nil {
			t.Errorf("%q: wrote outside the root", name)
		}
	}
}

// TestUnpackRefusesWriteThroughSymlink: a symlink entry "lib" → outside,
// then "lib/x": the file must not land outside the root, whether the
// manifest admits the symlink or claims "lib" is a directory.
func TestUnpackRefusesWriteThroughSymlink(t *testing.T) {
	outside := t.TempDir()
	write := func(tw *tar.Writer) {
		tw.WriteHeader(&tar.Header{Name: "lib", Typeflag: tar.TypeSymlink, Linkname: outside, Mode: 0o777})
		tw.WriteHeader(&tar.Header{Name: "lib/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 7})
		tw.Write([]byte("planted"))
	}
	for name, lib := range map[string]FileEntry{
		"symlink in manifest": {Path: "lib", Mode: os.ModeSymlink | 0o777, Link: outside},
		"dir in manifest":     {Path: "lib", Mode: os.ModeDir | 0o777},
	} {
		data, m := rawArchive(t, []FileEntry{lib, {Path: "lib/x", Mode: 0o644, Size: 7, CRC32C: "x"}}, write)
		if err := Unpack(bytes.NewReader(data), int64(len(data)), filepath.Join(t.TempDir(), "out"), m, nil); err == nil {
			t.Errorf("%s: accepted a file under a symlink entry", name)
		}
		if _, err := os.Stat(filepath.Join(outside, "x")); err == nil {
			t.Errorf("%s: wrote through the symlink", name)
		}
	}
}

// TestUnpackKeepsMtimes: Python trusts a .pyc only while its source keeps
// the mtime recorded in it (in whole seconds), so staging must keep every
// file's mtime to the second, as tar does.
func TestUnpackKeepsMtimes(t *testing.T) {
	src := tree(t)
	old := time.Date(2020, 1, 2, 3, 4, 5, 600, time.UTC)
	mod := filepath.Join(src, "lib", "pkg", "mod.py")
	os.Chtimes(mod, old, old)
	data, m := packBytes(t, src)
	dst, err := unpackBytes(data, m)
	defer os.RemoveAll(dst)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dst, "lib", "pkg", "mod.py"))
	if want := old.Truncate(time.Second); err != nil || !info.ModTime().Equal(want) {
		t.Errorf("mtime %v, want %v (%v)", info.ModTime(), want, err)
	}
}

func TestDirChecks(t *testing.T) {
	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	if _, err := OpenStage(open, nil); err == nil || !strings.Contains(err.Error(), "others can write") {
		t.Errorf("world-writable stage dir: %v", err)
	}
	if _, err := OpenCache(open, nil); err == nil {
		t.Error("world-writable cache dir accepted")
	}
	// a symlink planted at the stage path (sticky /tmp lets anyone create
	// one) is refused even when it points at a directory of ours
	mine := filepath.Join(t.TempDir(), "mine")
	os.Mkdir(mine, 0o700)
	planted := filepath.Join(t.TempDir(), "senv-stage")
	os.Symlink(mine, planted)
	if _, err := OpenStage(planted, nil); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("symlinked stage dir: %v", err)
	}
	if os.Getuid() == 0 {
		other := filepath.Join(t.TempDir(), "other")
		os.Mkdir(other, 0o755)
		os.Chown(other, 65534, 65534)
		if _, err := OpenStage(other, nil); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("stage dir owned by another user: %v", err)
		}
	}
}

func TestPublishNeverReplaces(t *testing.T) {
	c, err := OpenCache(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	src := tree(t)
	meta := &Meta{ID: "0123456789abcdef", Manager: "venv"}
	lock := testLock()
	if _, err := c.Publish(meta, lock, src); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(filepath.Join(c.Entry(meta.ID), archiveName))
	os.WriteFile(filepath.Join(src, "lib", "pkg", "mod.py"), []byte("X = 2\n"), 0o644)
	if _, err := c.Publish(meta, lock, src); err != nil {
		t.Fatalf("second publisher must succeed quietly: %v", err)
	}
	second, _ := os.ReadFile(filepath.Join(c.Entry(meta.ID), archiveName))
	if !bytes.Equal(first, second) {
		t.Error("a second publish replaced the entry")
	}
	if left, _ := os.ReadDir(filepath.Join(c.Root, "tmp")); len(left) != 0 {
		t.Errorf("temp left: %v", left)
	}
}

// TestPackChunksManySmallFiles: an env of many small files is cut every
// ChunkEntries entries, so that it too stages on every core.
func TestPackChunksManySmallFiles(t *testing.T) {
	src := tree(t)
	for i := range 600 {
		os.WriteFile(filepath.Join(src, "lib", "pkg", fmt.Sprintf("m%03d.py", i)), []byte(fmt.Sprintf("X = %d\n", i)), 0o644)
	}
	data, m := packBytes(t, src)
	if want := (len(m.Files) + ChunkEntries - 1) / ChunkEntries; len(m.Chunks) != want {
		t.Errorf("%d entries in %d chunks, want %d", len(m.Files), len(m.Chunks), want)
	}
	unpackVerified(t, data, m)
}

// TestPublishedManifestsAgree: the entry's manifest.json (for people and
// tools) and manifest.gob (what staging reads) are the same manifest.
func TestPublishedManifestsAgree(t *testing.T) {
	c, err := OpenCache(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	meta := &Meta{ID: "0123456789abcdef", Manager: "venv"}
	want, err := c.Publish(meta, testLock(), bigTree(t))
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON Manifest
	if err := readJSON(filepath.Join(c.Entry(meta.ID), manifestName), &fromJSON); err != nil {
		t.Fatal(err)
	}
	fromGob, err := c.Manifest(meta.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, &fromJSON) || !reflect.DeepEqual(want, fromGob) {
		t.Errorf("manifests differ: json %d files %d chunks, gob %d files %d chunks, packed %d files %d chunks",
			len(fromJSON.Files), len(fromJSON.Chunks), len(fromGob.Files), len(fromGob.Chunks), len(want.Files), len(want.Chunks))
	}
	if len(want.Chunks) < 2 {
		t.Errorf("want several chunks, got %d", len(want.Chunks))
	}
}

// TestUnpackRefusesDataAfterLastEntry: a chunk may hold nothing after its
// last entry; a second tar stream hidden there would be invisible to senv
// and visible to `zstd -d | tar -x`.
func TestUnpackRefusesDataAfterLastEntry(t *testing.T) {
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("a"))
	tw.Close()
	hidden := tar.NewWriter(zw)
	hidden.WriteHeader(&tar.Header{Name: "hidden", Typeflag: tar.TypeReg, Mode: 0o644, Size: 6})
	hidden.Write([]byte("hidden"))
	hidden.Close()
	zw.Close()
	sum := sha256.Sum256(buf.Bytes())
	m := &Manifest{Files: []FileEntry{{Path: "a", Mode: 0o644, Size: 1}},
		Chunks: []Chunk{{Size: int64(buf.Len()), SHA256: hex.EncodeToString(sum[:])}}}
	dst := filepath.Join(t.TempDir(), "out")
	if err := Unpack(bytes.NewReader(buf.Bytes()), int64(buf.Len()), dst, m, nil); err == nil {
		t.Error("accepted a chunk with a second tar stream after its last entry")
	}
}

// TestResetRemovesReadOnlyDirs: a staged env with a read-only directory
// can be removed and staged again by its owner. Root ignores directory
// modes, so as root the test runs itself again as nobody.
func TestResetRemovesReadOnlyDirs(t *testing.T) {
	dir := os.Getenv("SENV_TEST_NOBODY_DIR")
	if os.Getuid() == 0 {
		if dir != "" {
			t.Skip("child run as root")
		}
		dir, err := os.MkdirTemp("", "senv-nobody-")
		if err != nil {
			t.Fatal(err)
		}
		defer removeTree(dir)
		self, _ := os.ReadFile(os.Args[0])
		bin := filepath.Join(dir, "envs.test")
		if err := os.WriteFile(bin, self, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chown(dir, 65534, 65534)
		cmd := exec.Command(bin, "-test.run", "^TestResetRemovesReadOnlyDirs$", "-test.v")
		cmd.Env = append(os.Environ(), "SENV_TEST_NOBODY_DIR="+dir, "HOME="+dir)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("as nobody: %v\n%s", err, out)
		}
		return
	}
	if dir == "" {
		dir = t.TempDir()
	}
	src := tree(t)
	ro := filepath.Join(src, "share", "ro")
	os.MkdirAll(ro, 0o755)
	os.WriteFile(filepath.Join(ro, "data"), []byte("read-only dir"), 0o444)
	os.Chmod(ro, 0o555)
	defer os.Chmod(ro, 0o755)
	data, m := packBytes(t, src)
	s, err := OpenStage(filepath.Join(dir, "stage"), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := "0123456789abcdef"
	for range 2 { // staged, removed, staged again
		if err := Unpack(bytes.NewReader(data), int64(len(data)), s.Prefix(id), m, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkReady(id); err != nil {
			t.Fatal(err)
		}
		if removed, err := s.RemoveUnused(id, nil); !removed || err != nil {
			t.Fatalf("RemoveUnused: %v %v", removed, err)
		}
		if _, err := os.Lstat(s.Prefix(id)); err == nil {
			t.Fatal("env dir left behind")
		}
	}
}

// failingWriter takes n bytes, then fails every write.
type failingWriter struct{ n int }

var errWriterFull = errors.New("no space left on the test writer")

func (w *failingWriter) Write(b []byte) (int, error) {
	if len(b) > w.n {
		k := w.n
		w.n = 0
		return k, errWriterFull
	}
	w.n -= len(b)
	return len(b), nil
}

// TestPackWriteError: when the archive's writer fails after some frames,
// Pack returns that error (the later frames, whose buffers are reused,
// are drained, not written) and does not hang; a writer that fails at
// once is the same.
func TestPackWriteError(t *testing.T) {
	src := bigTree(t)
	for _, n := range []int{0, 1 << 20, 3 << 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := Pack(src, &failingWriter{n: n})
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, errWriterFull) {
					t.Fatalf("Pack: %v, want the writer's error", err)
				}
			case <-time.After(time.Minute):
				t.Fatal("Pack did not return after its writer failed")
			}
		})
	}
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", path, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("failed to parse %s: %w", path, err)
	}
	return nil
}
