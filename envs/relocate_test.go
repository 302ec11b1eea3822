package envs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPrefixScanner(t *testing.T) {
	const p = "/stage/0123456789abcdef"
	cases := []struct {
		name   string
		writes []string
		want   string
	}{
		{"absent", []string{"#!/usr/bin/python\n"}, ""},
		{"text", []string{"#!" + p + "/bin/python\n"}, EmbedsText},
		{"split across writes", []string{"#!/sta", "ge/0123456789", "abcdef/bin/python\n"}, EmbedsText},
		{"split one byte at a time", strings.Split("x"+p+"y", ""), EmbedsText},
		{"binary", []string{"\x7fELF\x00\x00", p + "/lib\x00"}, EmbedsBinary},
		{"nul without prefix", []string{"\x00\x01" + p[:10]}, ""},
		{"almost", []string{p[:len(p)-1] + "X"}, ""},
	}
	s := newPrefixScanner(p)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.reset()
			for _, w := range tc.writes {
				if n, err := s.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("write: %d %v", n, err)
				}
			}
			if got := s.embeds(); got != tc.want {
				t.Errorf("embeds = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRelocatorFile(t *testing.T) {
	from, to := "/tmp/senv-0/0123456789abcdef", "/tmp/s/0123456789abcdef"
	r := &relocator{from: []byte(from), to: []byte(to)}
	cases := []struct {
		name, kind, in, want string
	}{
		{"shebang", EmbedsText, "#!" + from + "/bin/python\nimport x\n", "#!" + to + "/bin/python\nimport x\n"},
		{"activate, twice", EmbedsText, "VIRTUAL_ENV='" + from + "'\nPATH=" + from + "/bin:$PATH\n",
			"VIRTUAL_ENV='" + to + "'\nPATH=" + to + "/bin:$PATH\n"},
		{"c string padded", EmbedsBinary, "ab\x00" + from + "/lib\x00cd",
			"ab\x00" + to + "/lib" + strings.Repeat("\x00", len(from)-len(to)) + "\x00cd"},
		{"two in one c string", EmbedsBinary, from + ":" + from + "/x\x00",
			to + ":" + to + "/x" + strings.Repeat("\x00", 2*(len(from)-len(to))) + "\x00"},
		{"at end without nul", EmbedsBinary, "\x00" + from, "\x00" + to + strings.Repeat("\x00", len(from)-len(to))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := string(r.file([]byte(tc.in), tc.kind))
			if got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
			if tc.kind == EmbedsBinary && len(got) != len(tc.in) {
				t.Errorf("binary length %d, was %d", len(got), len(tc.in))
			}
		})
	}
	for in, want := range map[string]string{from: to, from + "/lib/x": to + "/lib/x", from + "x": from + "x", "../lib": "../lib", "/usr/bin/python3": "/usr/bin/python3"} {
		if got := r.link(in); got != want {
			t.Errorf("link(%q) = %q, want %q", in, got, want)
		}
	}
}

// relocTree is an env packed at a prefix of the given stage dir, with a
// script, a binary, a .pyc and an absolute symlink that embed the prefix.
func relocTree(t *testing.T, stageDir string) string {
	t.Helper()
	root := filepath.Join(stageDir, "0123456789abcdef")
	for _, d := range []string{"bin", "lib/__pycache__"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"bin/tool":                      "#!" + root + "/bin/python\nprint('hi')\n",
		"pyvenv.cfg":                    "home = /usr/bin\ncommand = /usr/bin/python3 -m venv " + root + "\n",
		"lib/libx.so":                   "\x7fELF\x00\x00" + root + "/lib\x00tail",
		"lib/__pycache__/m.cpython.pyc": "\x00\x00" + root + "/lib/m.py",
		"lib/plain.txt":                 "nothing here\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(root+"/bin/tool", filepath.Join(root, "bin", "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("tool", filepath.Join(root, "bin", "rel")); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(root, "bin", "tool"), old, old); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestUnpackRelocates(t *testing.T) {
	src := relocTree(t, filepath.Join(t.TempDir(), "a-long-build-stage-dir"))
	data, m := packBytes(t, src)
	if m.Prefix != src {
		t.Fatalf("manifest prefix %q, want %q", m.Prefix, src)
	}
	embeds := map[string]string{}
	for _, e := range m.Files {
		if e.Embeds != "" {
			embeds[e.Path] = e.Embeds
		}
	}
	want := map[string]string{"bin/tool": EmbedsText, "pyvenv.cfg": EmbedsText, "lib/libx.so": EmbedsBinary, "bin/abs": EmbedsText}
	if len(embeds) != len(want) {
		t.Errorf("embeds = %v, want %v (.pyc files are not scanned)", embeds, want)
	}
	for p, k := range want {
		if embeds[p] != k {
			t.Errorf("%s: embeds %q, want %q", p, embeds[p], k)
		}
	}

	dst := filepath.Join(t.TempDir(), "short", "0123456789abcdef")
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := Unpack(bytes.NewReader(data), int64(len(data)), dst, m, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeTree(dst) })
	if err := Verify(dst, m); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read("bin/tool"); got != "#!"+dst+"/bin/python\nprint('hi')\n" {
		t.Errorf("bin/tool = %q", got)
	}
	if got := read("lib/libx.so"); !strings.HasPrefix(got, "\x7fELF\x00\x00"+dst+"/lib\x00") || len(got) != len("\x7fELF\x00\x00"+src+"/lib\x00tail") {
		t.Errorf("lib/libx.so = %q", got)
	}
	if got := read("lib/__pycache__/m.cpython.pyc"); !strings.Contains(got, src) {
		t.Errorf(".pyc was rewritten: %q (importlib fixes co_filename itself)", got)
	}
	if got, _ := os.Readlink(filepath.Join(dst, "bin", "abs")); got != dst+"/bin/tool" {
		t.Errorf("absolute symlink -> %q", got)
	}
	if got, _ := os.Readlink(filepath.Join(dst, "bin", "rel")); got != "tool" {
		t.Errorf("relative symlink -> %q", got)
	}
	info, err := os.Stat(filepath.Join(dst, "bin", "tool"))
	if err != nil || info.Mode().Perm() != 0o755 || !info.ModTime().Equal(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("rewritten bin/tool lost its mode or mtime: %v %v", info, err)
	}

	// damage a relocated file: Verify must notice
	os.WriteFile(filepath.Join(dst, "bin", "tool"), []byte("#!"+src+"/bin/python\n"), 0o755)
	if err := Verify(dst, m); err == nil {
		t.Error("Verify passed a relocated file that still holds the build prefix")
	}
}

func TestUnpackRefusesLongerPrefixForBinaries(t *testing.T) {
	src := relocTree(t, filepath.Join(t.TempDir(), "s"))
	data, m := packBytes(t, src)
	dst := filepath.Join(t.TempDir(), "a-much-longer-stage-dir", "0123456789abcdef")
	os.MkdirAll(filepath.Dir(dst), 0o755)
	err := Unpack(bytes.NewReader(data), int64(len(data)), dst, m, nil)
	var re *RelocateError
	if !errors.As(err, &re) || re.File != "lib/libx.so" || re.From != src || re.To != dst {
		t.Fatalf("err = %v, want a RelocateError naming lib/libx.so, %s and %s", err, src, dst)
	}
	if !strings.Contains(re.Hint(), "stage_dir") {
		t.Errorf("hint %q does not say what to change", re.Hint())
	}
	if _, err := os.Lstat(dst); err == nil {
		t.Errorf("Unpack wrote %s before refusing", dst)
	}
}

// TestUnpackRelocatesSplitFiles: files larger than a chunk, packed in
// pieces and written in parallel, are relocated once whole; the prefix may
// straddle a piece boundary.
func TestUnpackRelocatesSplitFiles(t *testing.T) {
	src := filepath.Join(t.TempDir(), "a-long-build-stage-dir", "0123456789abcdef")
	if err := os.MkdirAll(filepath.Join(src, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	at := ChunkTarget - 7 // straddles the first piece boundary
	bin := make([]byte, ChunkTarget+1000)
	copy(bin[at:], src+"/lib/x.so")
	text := bytes.Repeat([]byte("a"), ChunkTarget+1000)
	copy(text[at:], src)
	for name, data := range map[string][]byte{"lib/big.so": bin, "lib/big.txt": text} {
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, m := packBytes(t, src)
	dst := filepath.Join(t.TempDir(), "s", "0123456789abcdef")
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := Unpack(bytes.NewReader(data), int64(len(data)), dst, m, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeTree(dst) })
	if err := Verify(dst, m); err != nil {
		t.Fatal(err)
	}
	gotBin, _ := os.ReadFile(filepath.Join(dst, "lib", "big.so"))
	if len(gotBin) != len(bin) || !bytes.HasPrefix(gotBin[at:], []byte(dst+"/lib/x.so\x00")) {
		t.Errorf("big.so: %d bytes, at %d: %q", len(gotBin), at, gotBin[at:at+len(src)+10])
	}
	gotText, _ := os.ReadFile(filepath.Join(dst, "lib", "big.txt"))
	if want := append(append(text[:at:at], dst...), text[at+len(src):]...); !bytes.Equal(gotText, want) {
		t.Errorf("big.txt: %d bytes, want %d", len(gotText), len(want))
	}
	info, err := os.Stat(filepath.Join(dst, "lib", "big.txt"))
	if err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("big.txt mode: %v %v", info, err)
	}
}

// TestOwnEntryNotRelocatable: the user's own cache holds an entry whose
// binaries embed a shorter prefix than this stage dir (a job's
// {jobid} stage dir grew a digit): the env is built on this node without
// publishing, and the entry stays as it was.
func TestOwnEntryNotRelocatable(t *testing.T) {
	own, err := OpenCache(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	src := relocTree(t, filepath.Join(t.TempDir(), "j9"))
	id := filepath.Base(src)
	if _, err := own.Publish(&Meta{ID: id, Manager: "venv", Kind: "venv", Prefix: src}, testLock(), src); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(own.Entry(id), manifestName))
	if err != nil {
		t.Fatal(err)
	}
	stage, err := OpenStage(filepath.Join(t.TempDir(), "j10000"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	store := &Store{Cache: own, Stage: stage, Timeout: time.Minute, Publish: true,
		Logf: func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) }}
	job := Job{ID: id, Lock: testLock(), Backend: slowBackend{}, Meta: Meta{ID: id, Manager: "venv", Kind: "venv"}}
	if _, outcome, err := store.Ensure(context.Background(), job); err != nil || outcome != Built {
		t.Fatalf("ensure: %s, %v; want built\n%s", outcome, err, strings.Join(log, "\n"))
	}
	all := strings.Join(log, "\n")
	for _, w := range []string{"cannot relocate", "lib/libx.so", "building it on this node instead", "on this node only"} {
		if !strings.Contains(all, w) {
			t.Errorf("log lacks %q:\n%s", w, all)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(own.Entry(id), manifestName)); !bytes.Equal(after, before) {
		t.Error("the cache entry was replaced")
	}
	if _, outcome, err := store.Ensure(context.Background(), job); err != nil || outcome != Staged {
		t.Fatalf("second ensure: %s, %v; want staged", outcome, err)
	}
}
