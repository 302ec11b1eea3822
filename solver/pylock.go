package solver

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/senv-hpc/senv/internal/inputfile"
)

// pylockInput is what senv reads of a PEP 751 pylock.toml written by any
// tool (uv, pip, pdm): the packages and the fields that say whether the lock
// can be installed here.
type pylockInput struct {
	LockVersion string    `toml:"lock-version"`
	Packages    []Package `toml:"packages"`
}

// ParsePylock reads the packages of a PEP 751 lock file. name is for
// messages; relative paths in it are relative to baseDir (PEP 751: the lock
// file's directory) and come back absolute. A package must have exactly one
// source, and every archive, sdist and wheel a sha256.
func ParsePylock(data []byte, name, baseDir string) ([]Package, error) {
	if err := inputfile.CheckTOML(data); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var doc pylockInput
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		return nil, fmt.Errorf("%s: not valid TOML: %w", name, err)
	}
	if major, _, _ := strings.Cut(doc.LockVersion, "."); major != "1" {
		return nil, fmt.Errorf("%s: lock-version %q: senv reads PEP 751 lock version 1.x", name, doc.LockVersion)
	}
	if !md.IsDefined("packages") {
		return nil, fmt.Errorf("%s: no [[packages]]", name)
	}
	var pkgs []Package
	for i, in := range doc.Packages {
		p := in
		where := fmt.Sprintf("%s: packages[%d] (%s)", name, i, p.Name)
		if p.Name == "" {
			return nil, fmt.Errorf("%s: packages[%d] has no name", name, i)
		}
		kinds := 0
		for _, set := range []bool{p.VCS != nil, p.Directory != nil, p.Archive != nil, p.Sdist != nil || len(p.Wheels) > 0} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			return nil, fmt.Errorf("%s: needs exactly one source (vcs, directory, archive, or sdist/wheels), has %d", where, kinds)
		}
		abs := func(p string) string {
			if p == "" || filepath.IsAbs(p) {
				return p
			}
			return filepath.Join(baseDir, p)
		}
		switch p.Kind() {
		case "vcs":
			if p.VCS.CommitID == "" {
				return nil, fmt.Errorf("%s: a VCS package needs its commit-id", where)
			}
			p.VCS.Path = abs(p.VCS.Path)
		case "directory":
			p.Directory.Path = abs(p.Directory.Path)
		case "archive":
			p.Archive.Path = abs(p.Archive.Path)
		default:
			if p.Sdist != nil {
				p.Sdist.Path = abs(p.Sdist.Path)
			}
			for j := range p.Wheels {
				p.Wheels[j].Path = abs(p.Wheels[j].Path)
			}
		}
		if p.Kind() == "archive" || p.Kind() == "registry" {
			if !p.Hashed() {
				return nil, fmt.Errorf("%s: a file without a sha256 hash cannot be locked", where)
			}
		}
		p.Name = normName(p.Name)
		pkgs = append(pkgs, p)
	}
	sortPackages(pkgs)
	return pkgs, nil
}
