package envs

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
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

func TestPackUnpackRoundTrip(t *testing.T) {
	src := tree(t)
	var buf bytes.Buffer
	m, err := Pack(src, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if m.Count() != 3 || m.Bytes != int64(len("#!/bin/sh\necho hi\n")+len("X = 1\n")) {
		t.Errorf("manifest: %d files, %d bytes", m.Count(), m.Bytes)
	}
	dst := filepath.Join(t.TempDir(), "out")
	if err := Unpack(bytes.NewReader(buf.Bytes()), dst, m); err != nil {
		t.Fatal(err)
	}
	if err := Verify(dst, m); err != nil {
		t.Fatal(err)
	}
	if link, _ := os.Readlink(filepath.Join(dst, "bin", "python")); link != "/usr/bin/python3" {
		t.Errorf("symlink target %q", link)
	}
	if info, _ := os.Stat(filepath.Join(dst, "lib", "empty")); info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
}

// TestUnpackRefusesMismatch: a staged env is used only if every entry
// matches the manifest; tampering anywhere is an error.
func TestUnpackRefusesMismatch(t *testing.T) {
	src := tree(t)
	var buf bytes.Buffer
	m, err := Pack(src, &buf)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(m *Manifest){
		"content hash": func(m *Manifest) {
			for i := range m.Files {
				if m.Files[i].Mode.IsRegular() {
					m.Files[i].SHA256 = strings.Repeat("0", 64)
				}
			}
		},
		"size":          func(m *Manifest) { m.Files[len(m.Files)-1].Size++ },
		"mode":          func(m *Manifest) { m.Files[0].Mode ^= 0o020 },
		"missing entry": func(m *Manifest) { m.Files = m.Files[:len(m.Files)-1] },
		"extra entry":   func(m *Manifest) { m.Files = append(m.Files, FileEntry{Path: "zzz", Mode: 0o644}) },
		"path":          func(m *Manifest) { m.Files[0].Path = "other" },
		"symlink":       func(m *Manifest) { m.Files[1].Link = "/elsewhere" },
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			bad := *m
			bad.Files = append([]FileEntry(nil), m.Files...)
			tamper(&bad)
			if err := Unpack(bytes.NewReader(buf.Bytes()), filepath.Join(t.TempDir(), "out"), &bad); err == nil {
				t.Error("unpack accepted an archive that differs from its manifest")
			}
		})
	}
}

// TestUnpackRefusesTraversal: entries may not leave the env root.
func TestUnpackRefusesTraversal(t *testing.T) {
	for _, name := range []string{"../evil", "/abs", "a/../../evil", "./x"} {
		var buf bytes.Buffer
		zw, _ := zstd.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
		tw.Write([]byte("x"))
		tw.Close()
		zw.Close()
		m := &Manifest{Files: []FileEntry{{Path: name, Mode: 0o644, Size: 1}}}
		dir := t.TempDir()
		if err := Unpack(&buf, filepath.Join(dir, "out"), m); err == nil {
			t.Errorf("%q: accepted", name)
		}
		if _, err := os.Stat(filepath.Join(dir, "evil")); err == nil {
			t.Errorf("%q: wrote outside the root", name)
		}
	}
}

func TestDirChecks(t *testing.T) {
	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	if _, err := OpenStage(open); err == nil || !strings.Contains(err.Error(), "others can write") {
		t.Errorf("world-writable stage dir: %v", err)
	}
	if _, err := OpenCache(open); err == nil {
		t.Error("world-writable cache dir accepted")
	}
	// a symlink planted at the stage path (sticky /tmp lets anyone create
	// one) is refused even when it points at a directory of ours
	mine := filepath.Join(t.TempDir(), "mine")
	os.Mkdir(mine, 0o700)
	planted := filepath.Join(t.TempDir(), "senv-stage")
	os.Symlink(mine, planted)
	if _, err := OpenStage(planted); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("symlinked stage dir: %v", err)
	}
	if os.Getuid() == 0 {
		other := filepath.Join(t.TempDir(), "other")
		os.Mkdir(other, 0o755)
		os.Chown(other, 65534, 65534)
		if _, err := OpenStage(other); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("stage dir owned by another user: %v", err)
		}
	}
}

func TestPublishNeverReplaces(t *testing.T) {
	c, err := OpenCache(t.TempDir())
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

// TestUnpackRefusesWriteThroughSymlink: a symlink entry "lib" → outside,
// then "lib/x": the file must not land outside the root.
func TestUnpackRefusesWriteThroughSymlink(t *testing.T) {
	outside := t.TempDir()
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "lib", Typeflag: tar.TypeSymlink, Linkname: outside, Mode: 0o777})
	tw.WriteHeader(&tar.Header{Name: "lib/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 7})
	tw.Write([]byte("planted"))
	tw.Close()
	zw.Close()
	m := &Manifest{Files: []FileEntry{{Path: "lib", Mode: os.ModeSymlink | 0o777, Link: outside},
		{Path: "lib/x", Mode: 0o644, Size: 7, SHA256: "x"}}}
	if err := Unpack(&buf, filepath.Join(t.TempDir(), "out"), m); err == nil {
		t.Error("accepted a file under a symlink entry")
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); err == nil {
		t.Error("wrote through the symlink")
	}
}

// TestUnpackKeepsMtimes: Python trusts a .pyc only while its source keeps
// the mtime recorded in it, so staging must keep every file's mtime.
func TestUnpackKeepsMtimes(t *testing.T) {
	src := tree(t)
	old := time.Date(2020, 1, 2, 3, 4, 5, 600, time.UTC)
	mod := filepath.Join(src, "lib", "pkg", "mod.py")
	os.Chtimes(mod, old, old)
	var buf bytes.Buffer
	m, err := Pack(src, &buf)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "out")
	if err := Unpack(&buf, dst, m); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dst, "lib", "pkg", "mod.py"))
	if err != nil || !info.ModTime().Equal(old) {
		t.Errorf("mtime %v, want %v (%v)", info.ModTime(), old, err)
	}
}

// TestUnpackLargeFile: files above maxQueuedFile are streamed, and still
// verified.
func TestUnpackLargeFile(t *testing.T) {
	src := tree(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), (maxQueuedFile/16)+1000)
	os.WriteFile(filepath.Join(src, "lib", "big.so"), big, 0o755)
	var buf bytes.Buffer
	m, err := Pack(src, &buf)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "out")
	if err := Unpack(bytes.NewReader(buf.Bytes()), dst, m); err != nil {
		t.Fatal(err)
	}
	if err := Verify(dst, m); err != nil {
		t.Fatal(err)
	}
	for i := range m.Files {
		if m.Files[i].Path == "lib/big.so" {
			m.Files[i].SHA256 = strings.Repeat("0", 64)
		}
	}
	if err := Unpack(bytes.NewReader(buf.Bytes()), filepath.Join(t.TempDir(), "out"), m); err == nil {
		t.Error("a large file with the wrong sha256 was accepted")
	}
}
