package solver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/senv-hpc/senv/internal/inputfile"
)

// LockVersion is the version of senv's part of the lock file format
// ([tool.senv] version); a lock of another version is refused rather than
// misread.
const LockVersion = 2

// maxLockSize bounds a lock file: the torch stack with every platform's
// wheel hashes is about 200 KB.
const maxLockSize = 16 << 20

// Lock is the exact result of one solve: everything needed to build the same
// environment again without solving. Its file form (SCRIPT.lock, the
// cache's locks/KEY.toml) is a PEP 751 pylock.toml: the Python packages as
// [[packages]] and senv's own fields under [tool.senv], so that pip, uv and
// pdm can read what a lock installs.
type Lock struct {
	Version       int       `toml:"version"`
	SpecKey       string    `toml:"spec_key"`
	Manager       string    `toml:"manager"`
	Tool          string    `toml:"tool"`                     // builder tool and version, e.g. "uv 0.5.1"
	Python        string    `toml:"python,omitempty"`         // base interpreter path
	PythonVersion string    `toml:"python_version,omitempty"` // its full version
	Modules       []string  `toml:"modules,omitempty"`
	Platform      string    `toml:"platform"`
	Packages      []Package `toml:"-"` // PEP 751 [[packages]]: pip/uv, or a conda env's pip part
	Channels      []string  `toml:"channels,omitempty"`
	Explicit      string    `toml:"explicit,omitempty"` // conda family: an @EXPLICIT list
	// SystemSite: the env is made with --system-site-packages, and
	// Provided lists (name==version) what the base interpreter with the
	// modules loaded already has, which the lock does not install again.
	SystemSite bool     `toml:"system_site_packages,omitempty"`
	Provided   []string `toml:"provided,omitempty"`
	// Trees are content hashes of the local source directories that the
	// lock builds (not editable ones): a changed tree is another env.
	Trees map[string]string `toml:"trees,omitempty"`
	// Sources are the package sources the build installs from (they are
	// needed to build local and VCS packages, whose build dependencies
	// come from them).
	IndexURL       string   `toml:"index_url,omitempty"`
	ExtraIndexURLs []string `toml:"extra_index_urls,omitempty"`
	FindLinks      []string `toml:"find_links,omitempty"`
	NoIndex        bool     `toml:"no_index,omitempty"`
}

// Package is one locked Python distribution, as PEP 751 records it: a name,
// a version (not for source trees), and exactly one kind of source.
type Package struct {
	Name    string `toml:"name"`
	Version string `toml:"version,omitempty"`
	// Marker limits the package to some environments (a lock for many,
	// such as uv.lock exported); the installer evaluates it.
	Marker    string     `toml:"marker,omitempty"`
	VCS       *VCS       `toml:"vcs,omitempty"`
	Directory *Directory `toml:"directory,omitempty"`
	Archive   *Artifact  `toml:"archive,omitempty"`
	Sdist     *Artifact  `toml:"sdist,omitempty"`
	Wheels    []Artifact `toml:"wheels,omitempty"`
}

// Artifact is one file of a package, from an index or a direct URL.
type Artifact struct {
	Name   string            `toml:"name,omitempty"`
	URL    string            `toml:"url,omitempty"`
	Path   string            `toml:"path,omitempty"`
	Hashes map[string]string `toml:"hashes"`
}

// VCS is a package built from a version control checkout, pinned to the
// commit the solve resolved.
type VCS struct {
	Type              string `toml:"type"`
	URL               string `toml:"url,omitempty"`
	Path              string `toml:"path,omitempty"`
	RequestedRevision string `toml:"requested-revision,omitempty"`
	CommitID          string `toml:"commit-id"`
	Subdirectory      string `toml:"subdirectory,omitempty"`
}

// Directory is a package built from a local source tree.
type Directory struct {
	Path         string `toml:"path"`
	Editable     bool   `toml:"editable,omitempty"`
	Subdirectory string `toml:"subdirectory,omitempty"`
}

// Kind names the package's source: "registry" (wheels or sdist from an
// index or find-links), "archive", "vcs" or "directory".
func (p Package) Kind() string {
	switch {
	case p.VCS != nil:
		return "vcs"
	case p.Directory != nil:
		return "directory"
	case p.Archive != nil:
		return "archive"
	}
	return "registry"
}

// Hashed reports whether every file of p is pinned by a hash, so that pip's
// and uv's hash-checking mode can install it. VCS checkouts and source
// trees cannot be hashed; the commit pins the former.
func (p Package) Hashed() bool {
	switch p.Kind() {
	case "vcs", "directory":
		return false
	case "archive":
		return p.Archive.Hashes["sha256"] != ""
	}
	for _, a := range p.files() {
		if a.Hashes["sha256"] == "" {
			return false
		}
	}
	return len(p.files()) > 0
}

// files are p's registry files: its wheels and sdist.
func (p Package) files() []Artifact {
	fs := append([]Artifact(nil), p.Wheels...)
	if p.Sdist != nil {
		fs = append(fs, *p.Sdist)
	}
	return fs
}

// Source is p's source in one line: the identity the env ID covers and the
// form `senv ls` and error messages show.
func (p Package) Source() string {
	switch p.Kind() {
	case "vcs":
		return p.VCS.Type + "+" + firstNonEmpty(p.VCS.URL, p.VCS.Path) + "@" + p.VCS.CommitID + subdir(p.VCS.Subdirectory)
	case "directory":
		s := p.Directory.Path + subdir(p.Directory.Subdirectory)
		if p.Directory.Editable {
			s = "-e " + s
		}
		return s
	case "archive":
		return firstNonEmpty(p.Archive.URL, p.Archive.Path) + "#sha256=" + p.Archive.Hashes["sha256"]
	}
	var sums []string
	for _, a := range p.files() {
		sums = append(sums, a.Hashes["sha256"])
	}
	sort.Strings(sums)
	return p.Name + "==" + p.Version + "#" + strings.Join(sums, ",")
}

func subdir(s string) string {
	if s == "" {
		return ""
	}
	return "#subdirectory=" + s
}

// EnvID names what the lock installs: packages, platform, base interpreter,
// modules and builder tool. Two specs that lock to the same set share it.
// It does not depend on where the env is staged: staging relocates an env
// built at another prefix (envs.Manifest records what embeds it), so users
// with different stage dirs, and a site cache, share one entry.
func (l *Lock) EnvID() string {
	pkgs := make([]string, len(l.Packages))
	for i, p := range l.Packages {
		pkgs[i] = p.Name + " " + p.Source()
	}
	sort.Strings(pkgs)
	b, _ := json.Marshal([]any{l.Manager, l.Tool, l.Python, l.PythonVersion, l.Modules, l.Platform, pkgs, l.Explicit, l.Trees,
		l.SystemSite, l.Provided})
	return shortHash(b)
}

// Requirements renders the packages for pip as two requirements files:
// hashed holds every package whose files have hashes (for `pip install
// --no-deps --require-hashes`), unhashed the VCS checkouts and source
// trees, which pip's hash-checking mode refuses. Each package names its
// exact file, so no index is asked which one to take.
func (l *Lock) Requirements() (hashed, unhashed string) {
	var h, u strings.Builder
	for _, p := range l.Packages {
		switch p.Kind() {
		case "vcs":
			// file://localhost/: pip before 24 (its packaging 21) refuses a
			// git+file:/// URL, which has no host
			fmt.Fprintf(&u, "%s @ %s%s\n", p.Name, strings.Replace(p.Source(), "+file:///", "+file://localhost/", 1), marker(p))
		case "directory":
			if p.Directory.Editable {
				fmt.Fprintf(&u, "-e %s\n", p.Directory.Path)
			} else {
				fmt.Fprintf(&u, "%s\n", p.Directory.Path)
			}
		case "archive":
			fmt.Fprintf(&h, "%s @ %s%s --hash=sha256:%s\n", p.Name, artifactURL(*p.Archive), marker(p), p.Archive.Hashes["sha256"])
		default:
			files := p.files()
			if len(files) == 1 && artifactURL(files[0]) != "" {
				fmt.Fprintf(&h, "%s @ %s%s", p.Name, artifactURL(files[0]), marker(p))
			} else {
				fmt.Fprintf(&h, "%s==%s%s", p.Name, p.Version, marker(p))
			}
			var sums []string
			for _, a := range files {
				sums = append(sums, a.Hashes["sha256"])
			}
			sort.Strings(sums)
			for _, s := range sums {
				fmt.Fprintf(&h, " --hash=sha256:%s", s)
			}
			h.WriteString("\n")
		}
	}
	return h.String(), u.String()
}

// marker renders a package's environment marker for a requirements line
// (after a URL, PEP 508 wants a space before the semicolon).
func marker(p Package) string {
	if p.Marker == "" {
		return ""
	}
	return " ; " + p.Marker
}

func artifactURL(a Artifact) string {
	if a.URL != "" {
		return a.URL
	}
	if a.Path != "" {
		return "file://" + a.Path
	}
	return ""
}

// SourceArgs returns the pip/uv command-line options for the lock's sources.
func (l *Lock) SourceArgs() []string {
	var args []string
	if l.IndexURL != "" {
		args = append(args, "--index-url", l.IndexURL)
	}
	for _, u := range l.ExtraIndexURLs {
		args = append(args, "--extra-index-url", u)
	}
	for _, f := range l.FindLinks {
		args = append(args, "--find-links", f)
	}
	if l.NoIndex {
		args = append(args, "--no-index")
	}
	return args
}

// pylockDoc is the file form of a Lock: a PEP 751 document.
type pylockDoc struct {
	LockVersion    string    `toml:"lock-version"`
	CreatedBy      string    `toml:"created-by"`
	RequiresPython string    `toml:"requires-python,omitempty"`
	Packages       []Package `toml:"packages"`
	Tool           struct {
		Senv *Lock `toml:"senv"`
	} `toml:"tool"`
}

// Marshal returns the lock as a pylock.toml document with a header comment.
func (l *Lock) Marshal() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# senv lock: the exact environment for one spec, as a PEP 751 pylock.toml with senv's\n# fields under [tool.senv]. Written by `senv lock`; commit it beside the script so that\n# every run builds the same packages.\n")
	doc := pylockDoc{LockVersion: "1.0", CreatedBy: "senv", Packages: l.Packages}
	if doc.Packages == nil {
		doc.Packages = []Package{}
	}
	if l.PythonVersion != "" {
		doc.RequiresPython = "==" + l.PythonVersion
	}
	doc.Tool.Senv = l
	if err := encodeTOML(&b, doc); err != nil {
		return nil, fmt.Errorf("failed to encode lock: %w", err)
	}
	return b.Bytes(), nil
}

// Pylock returns the lock's Python packages as a standalone pylock.toml, the
// file uv installs from.
func (l *Lock) Pylock() ([]byte, error) {
	var b bytes.Buffer
	pkgs := make([]Package, len(l.Packages))
	for i, p := range l.Packages {
		if p.Archive != nil && strings.HasPrefix(p.Archive.URL, "file:") {
			// uv refuses a file: URL for an archive (pip lock writes
			// them); it takes the same file as a path
			a := *p.Archive
			a.Path, a.URL = fileURLPath(a.URL), ""
			p.Archive = &a
		}
		pkgs[i] = p
	}
	doc := pylockDoc{LockVersion: "1.0", CreatedBy: "senv", Packages: pkgs}
	if err := encodeTOML(&b, doc); err != nil {
		return nil, fmt.Errorf("failed to encode pylock.toml: %w", err)
	}
	return b.Bytes(), nil
}

// encodeTOML writes v without indentation, as pylock files are written by
// the tools that read them.
func encodeTOML(w io.Writer, v any) error {
	enc := toml.NewEncoder(w)
	enc.Indent = ""
	return enc.Encode(v)
}

// ParseLock reads a lock written by Marshal.
func ParseLock(data []byte, name string) (*Lock, error) {
	if err := inputfile.CheckTOML(data); err != nil {
		return nil, fmt.Errorf("failed to read lock %s: %w", name, err)
	}
	var doc pylockDoc
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return nil, fmt.Errorf("failed to read lock %s: %w", name, err)
	}
	l := doc.Tool.Senv
	if l == nil {
		var old struct {
			Version int `toml:"version"`
		}
		if _, err := toml.Decode(string(data), &old); err == nil && old.Version == 1 {
			return nil, fmt.Errorf("failed to read lock %s: it was written by an older senv (lock version 1); write it again with `senv lock --upgrade`", name)
		}
		return nil, fmt.Errorf("failed to read lock %s: no [tool.senv] table (a pylock.toml from another tool is an input: use `#ENV file pylock.toml`)", name)
	}
	if l.Version != LockVersion {
		return nil, fmt.Errorf("failed to read lock %s: version %d, this senv reads version %d; write it again with `senv lock --upgrade`", name, l.Version, LockVersion)
	}
	l.Packages = doc.Packages
	return l, nil
}

// ReadLockFile reads a lock file; it returns (nil, nil) when there is none.
func ReadLockFile(path string) (*Lock, error) {
	data, err := inputfile.Read(path, maxLockSize)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read lock: %w", err)
	}
	return ParseLock(data, path)
}
