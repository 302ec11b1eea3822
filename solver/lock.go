package solver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// LockVersion is the version of the lock file format; a lock of another
// version is refused rather than misread.
const LockVersion = 1

// Lock is the exact result of one solve: everything needed to build the same
// environment again without solving. Its TOML form is the SCRIPT.lock file
// format documented in the README.
type Lock struct {
	Version       int       `toml:"version"`
	SpecKey       string    `toml:"spec_key"`
	Manager       string    `toml:"manager"`
	Tool          string    `toml:"tool"`                     // builder tool and version, e.g. "uv 0.5.1"
	Python        string    `toml:"python,omitempty"`         // base interpreter path
	PythonVersion string    `toml:"python_version,omitempty"` // its full version
	Modules       []string  `toml:"modules,omitempty"`
	Platform      string    `toml:"platform"`
	Packages      []Package `toml:"package,omitempty"` // pip/uv
	Channels      []string  `toml:"channels,omitempty"`
	Explicit      string    `toml:"explicit,omitempty"` // conda family: an @EXPLICIT list
	// Sources are the package sources the build installs from (they are
	// needed to find the locked files, not to choose them).
	IndexURL       string   `toml:"index_url,omitempty"`
	ExtraIndexURLs []string `toml:"extra_index_urls,omitempty"`
	FindLinks      []string `toml:"find_links,omitempty"`
	NoIndex        bool     `toml:"no_index,omitempty"`
}

// Package is one locked Python distribution.
type Package struct {
	Name    string `toml:"name"`
	Version string `toml:"version"`
	SHA256  string `toml:"sha256"` // the file the solve chose (pip), or the first listed (uv)
	// Hashes are further acceptable files of the same version: an index
	// serves one wheel per platform, and uv lists them all, leaving the
	// choice to the installer.
	Hashes []string `toml:"hashes,omitempty"`
	URL    string   `toml:"url,omitempty"` // where the solve found it (informational)
}

// allHashes returns every acceptable sha256 of p, sorted.
func (p Package) allHashes() []string {
	all := append([]string{p.SHA256}, p.Hashes...)
	sort.Strings(all)
	return all
}

// EnvID names what the lock installs: packages, platform, base interpreter,
// modules and builder tool, and the directory it is staged under (an env
// runs only at the path it was built at). Two specs that lock to the same
// set share it.
func (l *Lock) EnvID(stageDir string) string {
	pkgs := make([]string, len(l.Packages))
	for i, p := range l.Packages {
		pkgs[i] = p.Name + "==" + p.Version + "#" + strings.Join(p.allHashes(), ",")
	}
	sort.Strings(pkgs)
	b, _ := json.Marshal([]any{l.Manager, l.Tool, l.Python, l.PythonVersion, l.Modules, l.Platform, pkgs, l.Explicit, stageDir})
	return shortHash(b)
}

// Requirements renders the packages as a pip requirements file with hashes,
// for `pip install --no-deps --require-hashes -r`.
func (l *Lock) Requirements() string {
	var b strings.Builder
	for _, p := range l.Packages {
		fmt.Fprintf(&b, "%s==%s", p.Name, p.Version)
		for _, h := range p.allHashes() {
			fmt.Fprintf(&b, " --hash=sha256:%s", h)
		}
		b.WriteString("\n")
	}
	return b.String()
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

// Marshal returns the lock as TOML with a header comment.
func (l *Lock) Marshal() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# senv lock: the exact environment for one spec. Written by `senv lock`; commit it\n# beside the script so that every run builds the same packages.\n")
	if err := toml.NewEncoder(&b).Encode(l); err != nil {
		return nil, fmt.Errorf("failed to encode lock: %w", err)
	}
	return b.Bytes(), nil
}

// ParseLock reads a lock from TOML.
func ParseLock(data []byte, name string) (*Lock, error) {
	var l Lock
	if _, err := toml.Decode(string(data), &l); err != nil {
		return nil, fmt.Errorf("failed to read lock %s: %w", name, err)
	}
	if l.Version != LockVersion {
		return nil, fmt.Errorf("failed to read lock %s: version %d, this senv reads version %d", name, l.Version, LockVersion)
	}
	return &l, nil
}

// ReadLockFile reads a lock file; it returns (nil, nil) when there is none.
func ReadLockFile(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read lock: %w", err)
	}
	return ParseLock(data, path)
}
