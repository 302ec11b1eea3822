package envs

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// What a file embeds, in FileEntry.Embeds: the prefix the env was packed
// from, in a text file (no NUL byte) or in a binary one.
//
// What embeds it, by tool, as the conformance suites record it:
//   - python -m venv + pip: the shebangs of bin/ scripts (also pip's
//     `#!/bin/sh` and `exec` form for long paths), bin/activate,
//     activate.csh and activate.fish, and pyvenv.cfg's `command =` line.
//   - uv: the shebangs, and bin/activate, .bat, .csh, .fish and .nu.
//   - neither: RECORD files (bin/ scripts relative to site-packages),
//     direct_url.json and editable .pth files (they name the source tree),
//     bin/python (a symlink to the base interpreter). .pyc files hold the
//     source path in co_filename, which importlib replaces with the path
//     it loaded the source from (_imp._fix_co_filename): not scanned.
//   - micromamba, mamba, conda: the text and binary files whose placeholder
//     (conda-build's /opt/anaconda1anaconda2anaconda3 or its long
//     _h_env_placehold_ path) the installer replaced with the prefix,
//     entry-point shebangs, conda-meta/history; with a real python package
//     also its sysconfig data, pkg-config files and, padded with NULs,
//     bin/python3.X and libpython.
//   - absolute symlinks into the env (rare: conda and venv link relatively).
const (
	EmbedsText   = "text"
	EmbedsBinary = "binary"
)

// scanSuffixes are files Pack does not scan for the prefix.
var scanSuffixes = []string{".pyc"}

// scanned reports whether Pack looks for the prefix in a file.
func scanned(rel string) bool {
	for _, s := range scanSuffixes {
		if strings.HasSuffix(rel, s) {
			return false
		}
	}
	return true
}

// prefixScanner is an io.Writer that notes whether what is written holds
// needle (also across writes) and whether it holds a NUL byte.
type prefixScanner struct {
	needle []byte
	tail   []byte // the last len(needle)-1 bytes written
	join   []byte
	found  bool
	nul    bool
}

func newPrefixScanner(prefix string) *prefixScanner {
	return &prefixScanner{needle: []byte(prefix)}
}

func (s *prefixScanner) reset() { s.tail, s.found, s.nul = s.tail[:0], false, false }

// embeds says what the file written since reset embeds: "", EmbedsText or
// EmbedsBinary.
func (s *prefixScanner) embeds() string {
	switch {
	case !s.found:
		return ""
	case s.nul:
		return EmbedsBinary
	}
	return EmbedsText
}

func (s *prefixScanner) Write(b []byte) (int, error) {
	if !s.nul && bytes.IndexByte(b, 0) >= 0 {
		s.nul = true
	}
	if s.found || len(s.needle) == 0 {
		return len(b), nil
	}
	keep := len(s.needle) - 1
	if len(s.tail) > 0 {
		s.join = append(append(s.join[:0], s.tail...), b[:min(len(b), keep)]...)
		s.found = bytes.Contains(s.join, s.needle)
	}
	if !s.found {
		s.found = bytes.Contains(b, s.needle)
	}
	if len(b) >= keep {
		s.tail = append(s.tail[:0], b[len(b)-keep:]...)
	} else {
		s.tail = append(s.tail, b...)
		s.tail = s.tail[max(0, len(s.tail)-keep):]
	}
	return len(b), nil
}

// relocator rewrites what an env packed at from holds for prefix to: the
// files and symlinks the manifest lists as embedding from.
type relocator struct {
	from, to []byte
}

// newRelocator returns the relocator that unpacking m into root needs, or
// nil when there is nothing to rewrite. It refuses, before anything is
// written, what cannot be relocated: an entry of an older senv that did
// not record its prefix files, and binary files when root is longer than
// the prefix they embed (a C string can shrink in place, padded with NULs,
// but not grow).
func newRelocator(m *Manifest, root string) (*relocator, error) {
	to, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if m.Prefix == "" || m.Prefix == to {
		return nil, nil
	}
	for _, e := range m.Files {
		if e.Embeds == EmbedsBinary && len(to) > len(m.Prefix) {
			return nil, &RelocateError{File: e.Path, From: m.Prefix, To: to}
		}
	}
	return &relocator{from: []byte(m.Prefix), to: []byte(to)}, nil
}

// RelocateError is a binary file that cannot be rewritten for a longer
// prefix than the one it was built at.
type RelocateError struct {
	File     string // relative to the env root
	From, To string // the prefix it was built at, and the one it would run at
}

func (e *RelocateError) Error() string {
	return fmt.Sprintf("cannot relocate the env from %s (%d characters) to %s (%d characters): "+
		"its binary file %s embeds the build prefix, which can only be replaced by one no longer than itself",
		e.From, len(e.From), e.To, len(e.To), e.File)
}

// Hint says how to fix it. The env ID is the last component of both
// prefixes, so what must fit is the stage dir.
func (e *RelocateError) Hint() string {
	built, yours := filepath.Dir(e.From), filepath.Dir(e.To)
	return fmt.Sprintf("use a stage_dir of at most %d characters (%s has %d), or have the env published "+
		"from a stage dir at least that long (`senv --stage-dir DIR build`; a padded path such as "+
		"/tmp/senv-site-padding-padding-padding is fine)", len(built), yours, len(yours))
}

// file returns data, an entry that embeds the prefix as kind says, for the
// new prefix. Text files get every occurrence replaced (their length may
// change). Binary files get conda's treatment: each NUL-terminated string
// that holds the prefix is rewritten in place and padded with NULs to its
// old length, so that offsets into the file stay valid.
func (r *relocator) file(data []byte, kind string) []byte {
	if kind != EmbedsBinary {
		return bytes.ReplaceAll(data, r.from, r.to)
	}
	for i := 0; ; {
		k := bytes.Index(data[i:], r.from)
		if k < 0 {
			return data
		}
		start := i + k
		end := bytes.IndexByte(data[start:], 0)
		if end < 0 {
			end = len(data)
		} else {
			end += start
		}
		s := bytes.ReplaceAll(data[start:end], r.from, r.to) // newRelocator made sure it does not grow
		n := copy(data[start:end], s)
		clear(data[start+n : end])
		i = end
	}
}

// link returns a symlink target for the new prefix: an absolute target
// inside the old prefix moves with the env.
func (r *relocator) link(target string) string {
	from := string(r.from)
	if target == from || strings.HasPrefix(target, from+"/") {
		return string(r.to) + target[len(from):]
	}
	return target
}

// writeRelocated writes a file that embeds the prefix, rewritten for the
// new one. The file is read whole (such files are scripts, metadata and a
// few libraries); it gets the archive's mode and mtime like any other.
// Python checks a .pyc against its source's mtime and size: where the new
// prefix changed the size of a .py (rare: a prefix in a module's text),
// its bytecode is stale and Python compiles that module again at import.
func (u *unpacker) writeRelocated(dst string, perm fs.FileMode, hdr *tar.Header, r io.Reader, kind string, buf []byte) error {
	data := make([]byte, hdr.Size)
	if _, err := io.ReadFull(r, data); err != nil {
		return err
	}
	data = u.reloc.file(data, kind)
	h := *hdr
	h.Size = int64(len(data))
	return writeFile(dst, perm, &h, bytes.NewReader(data), buf)
}

// verify checks a relocated entry at p: a file must not hold the old
// prefix (a binary one must have kept its size), a symlink must have its
// target rewritten.
func (r *relocator) verify(p string, e FileEntry) error {
	if e.Mode&fs.ModeSymlink != 0 {
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if want := r.link(e.Link); target != want {
			return fmt.Errorf("symlink to %s, want %s", target, want)
		}
		return nil
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if e.Embeds == EmbedsBinary && int64(len(data)) != e.Size {
		return fmt.Errorf("size %d after relocation, manifest %d", len(data), e.Size)
	}
	if !bytes.Equal(r.from, r.to) && bytes.Contains(data, r.from) && !bytes.Contains(r.to, r.from) {
		return fmt.Errorf("still holds the build prefix %s", r.from)
	}
	return nil
}

// rewrite relocates a file unpacked in place (a split file, whose pieces
// were written in parallel) before it gets its mode and mtime: it is read
// whole, rewritten, and written back.
func (r *relocator) rewrite(path, kind string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, r.file(data, kind), 0o600)
}
