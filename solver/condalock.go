package solver

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"regexp"
	"runtime"
	"strings"

	"github.com/senv-hpc/senv/internal/inputfile"
	"github.com/senv-hpc/senv/jobspec"
	"gopkg.in/yaml.v3"
)

// Lock files users already have (`#ENV file`): conda's explicit list
// (`conda list --explicit`, conda-lock's *.lock), conda-lock.yml and
// pixi.lock. Each is read thin: only this platform's packages, as an
// @EXPLICIT list (Spec.Explicit, installed without a solve) and hashed
// Python packages (Spec.Locked, installed like a pip part). The tools that
// own the formats check the rest when they install.

// CondaSubdir is this machine's conda platform, as lock files name it.
func CondaSubdir() string {
	arch := map[string]string{"amd64": "64", "arm64": "aarch64", "ppc64le": "ppc64le", "s390x": "s390x", "386": "32"}[runtime.GOARCH]
	return runtime.GOOS + "-" + arch
}

var (
	explicitPlatformRe = regexp.MustCompile(`^#\s*platform:\s*(\S+)`)
	explicitURLRe      = regexp.MustCompile(`^[a-z][a-z0-9+.-]*://\S+/[^/#\s]+(\.conda|\.tar\.bz2)(#([0-9a-f]{32}|sha256:[0-9a-f]{64}))?$`)
)

// isExplicitFile reports whether data is conda's explicit format: an
// @EXPLICIT line before any package line.
func isExplicitFile(data []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		return line == "@EXPLICIT"
	}
	return false
}

// addExplicitFile reads an explicit list as conda writes it, keeping its
// order (the install order). A "# platform:" line must name this platform.
func (s *Spec) addExplicitFile(path string, data []byte) error {
	bad := func(line int, msg, hint string) error {
		return &jobspec.Error{Pos: jobspec.Pos{File: path, Line: line}, Key: "file", Msg: msg, Hint: hint}
	}
	var b strings.Builder
	b.WriteString("@EXPLICIT\n")
	seen, n := false, 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if m := explicitPlatformRe.FindStringSubmatch(text); m != nil && m[1] != CondaSubdir() {
			return bad(line, fmt.Sprintf("an explicit list for %s, this is %s", m[1], CondaSubdir()),
				"make the list on a "+CondaSubdir()+" machine (conda list --explicit --md5), or lock for it (conda-lock -p "+CondaSubdir()+")")
		}
		switch {
		case text == "" || strings.HasPrefix(text, "#"):
		case text == "@EXPLICIT":
			seen = true
		case !explicitURLRe.MatchString(text):
			return bad(line, fmt.Sprintf("%q is not a package URL", text), "an explicit list has one URL#MD5 line per package after @EXPLICIT")
		default:
			b.WriteString(text + "\n")
			n++
		}
	}
	if !seen || n == 0 {
		return bad(0, "an explicit list with no packages", "write it with `conda list --explicit --md5 > FILE`")
	}
	s.Explicit = b.String()
	return nil
}

// lockedPkg is one package of a lock file, for the explicit list or the
// pip part.
type lockedPkg struct {
	name, version, url, md5, sha256 string
	deps                            []string // names
	pip                             bool
	line                            int
}

// lockedPython is a lock file's pypi package as a locked Python package:
// its one file (a wheel, else an sdist) by URL, or by path for file://.
func lockedPython(p lockedPkg) Package {
	a := Artifact{Name: path.Base(p.url), URL: p.url, Hashes: map[string]string{"sha256": p.sha256}}
	if local, ok := strings.CutPrefix(p.url, "file://"); ok {
		a.URL, a.Path = "", local
	}
	pkg := Package{Name: NormalizeRequirement(p.name), Version: p.version}
	if strings.HasSuffix(a.Name, ".whl") {
		pkg.Wheels = []Artifact{a}
	} else {
		pkg.Sdist = &a
	}
	return pkg
}

func (p lockedPkg) explicitLine() string {
	if p.md5 != "" {
		return p.url + "#" + p.md5
	}
	if p.sha256 != "" {
		return p.url + "#sha256:" + p.sha256
	}
	return p.url
}

// addCondaLockYAML reads a conda-lock.yml (version 1): the main-category
// packages of this platform.
func (s *Spec) addCondaLockYAML(path string, doc *yaml.Node) error {
	var lf struct {
		Version  int `yaml:"version"`
		Metadata struct {
			Platforms []string `yaml:"platforms"`
		} `yaml:"metadata"`
		Package []yaml.Node `yaml:"package"`
	}
	if err := doc.Decode(&lf); err != nil {
		return lockError(path, doc.Line, "not a conda-lock file: "+err.Error())
	}
	if lf.Version != 1 {
		return lockError(path, 1, fmt.Sprintf("conda-lock version %d: senv reads version 1", lf.Version))
	}
	var pkgs []lockedPkg
	for _, n := range lf.Package {
		var p struct {
			Name         string            `yaml:"name"`
			Version      string            `yaml:"version"`
			Manager      string            `yaml:"manager"`
			Platform     string            `yaml:"platform"`
			URL          string            `yaml:"url"`
			Hash         map[string]string `yaml:"hash"`
			Dependencies map[string]string `yaml:"dependencies"`
			Category     string            `yaml:"category"`
			Optional     bool              `yaml:"optional"`
		}
		if err := n.Decode(&p); err != nil {
			return lockError(path, n.Line, "package: "+err.Error())
		}
		if p.Platform != CondaSubdir() || p.Optional || p.Category != "" && p.Category != "main" {
			continue
		}
		lp := lockedPkg{name: p.Name, version: p.Version, url: p.URL, md5: p.Hash["md5"], sha256: p.Hash["sha256"], pip: p.Manager == "pip", line: n.Line}
		for d := range p.Dependencies {
			lp.deps = append(lp.deps, d)
		}
		if p.Manager != "conda" && p.Manager != "pip" {
			return lockError(path, n.Line, fmt.Sprintf("package %s: unknown manager %q", p.Name, p.Manager))
		}
		pkgs = append(pkgs, lp)
	}
	return s.addLocked(path, pkgs, lf.Metadata.Platforms)
}

// addPixiLock reads a pixi.lock (versions 5 and 6): the default
// environment's packages for this platform.
func (s *Spec) addPixiLock(path string, doc *yaml.Node) error {
	type ref struct {
		Conda string `yaml:"conda"`
		PyPI  string `yaml:"pypi"`
	}
	var lf struct {
		Version      int `yaml:"version"`
		Environments map[string]struct {
			Packages map[string][]ref `yaml:"packages"`
		} `yaml:"environments"`
		Packages []yaml.Node `yaml:"packages"`
	}
	if err := doc.Decode(&lf); err != nil {
		return lockError(path, doc.Line, "not a pixi lock file: "+err.Error())
	}
	if lf.Version < 5 || lf.Version > 6 {
		return lockError(path, 1, fmt.Sprintf("pixi.lock version %d: senv reads versions 5 and 6", lf.Version))
	}
	env, ok := lf.Environments["default"]
	if !ok {
		return lockError(path, 1, "no default environment")
	}
	var platforms []string
	for p := range env.Packages {
		platforms = append(platforms, p)
	}
	type def struct {
		Kind    string   `yaml:"kind"` // version 5
		URL     string   `yaml:"url"`  // version 5
		Conda   string   `yaml:"conda"`
		PyPI    string   `yaml:"pypi"`
		Name    string   `yaml:"name"`
		Version string   `yaml:"version"`
		MD5     string   `yaml:"md5"`
		SHA256  string   `yaml:"sha256"`
		Depends []string `yaml:"depends"`
	}
	defs := map[string]lockedPkg{}
	for _, n := range lf.Packages {
		var d def
		if err := n.Decode(&d); err != nil {
			return lockError(path, n.Line, "packages: "+err.Error())
		}
		url, pip := firstNonEmpty(d.Conda, d.PyPI, d.URL), d.PyPI != "" || d.Kind == "pypi"
		lp := lockedPkg{name: d.Name, version: d.Version, url: url, md5: d.MD5, sha256: d.SHA256, pip: pip, line: n.Line}
		if lp.name == "" && !pip { // version 6 names conda packages by their file only
			lp.name, lp.version = condaFileNameVersion(url)
		}
		for _, dep := range d.Depends {
			lp.deps = append(lp.deps, strings.Fields(dep)[0])
		}
		defs[url] = lp
	}
	var pkgs []lockedPkg
	for _, r := range env.Packages[CondaSubdir()] {
		url := firstNonEmpty(r.Conda, r.PyPI)
		p, ok := defs[url]
		if !ok {
			return lockError(path, 0, fmt.Sprintf("environment default lists %s, which packages: does not define", url))
		}
		pkgs = append(pkgs, p)
	}
	return s.addLocked(path, pkgs, platforms)
}

// condaFileNameVersion splits "name-version-build.conda" into name and
// version.
func condaFileNameVersion(url string) (name, version string) {
	base := strings.TrimSuffix(strings.TrimSuffix(path.Base(url), ".conda"), ".tar.bz2")
	parts := strings.Split(base, "-")
	if len(parts) < 3 {
		return base, ""
	}
	return strings.Join(parts[:len(parts)-2], "-"), parts[len(parts)-2]
}

// addLocked records a lock file's packages for this platform: the conda
// ones as an explicit list in dependency order (micromamba 1.5 and conda
// link noarch python packages only after python), the pip ones as hashed
// Python packages.
func (s *Spec) addLocked(file string, pkgs []lockedPkg, platforms []string) error {
	var conda []lockedPkg
	for _, p := range pkgs {
		if p.pip {
			if p.sha256 == "" || p.name == "" || p.version == "" {
				return lockError(file, p.line, fmt.Sprintf("pypi package %s has no name, version or sha256", p.url))
			}
			s.Locked = append(s.Locked, lockedPython(p))
			continue
		}
		if !condaPkgURLRe.MatchString(p.url) {
			return lockError(file, p.line, fmt.Sprintf("%q is not a conda package URL", p.url))
		}
		conda = append(conda, p)
	}
	if len(conda) == 0 {
		return lockError(file, 0, fmt.Sprintf("no conda packages for %s (the lock has %s)", CondaSubdir(), strings.Join(platforms, ", ")))
	}
	var b strings.Builder
	b.WriteString("@EXPLICIT\n")
	for _, p := range dependencyOrder(conda) {
		b.WriteString(p.explicitLine() + "\n")
	}
	s.Explicit = b.String()
	return nil
}

// dependencyOrder sorts packages so that each comes after the packages it
// depends on (those in the set), keeping the given order where it can.
func dependencyOrder(pkgs []lockedPkg) []lockedPkg {
	byName := map[string]int{}
	for i, p := range pkgs {
		byName[p.name] = i
	}
	done := make([]bool, len(pkgs))
	visiting := make([]bool, len(pkgs))
	var out []lockedPkg
	var visit func(i int)
	visit = func(i int) {
		if done[i] || visiting[i] {
			return // a cycle is installed in the given order
		}
		visiting[i] = true
		for _, d := range pkgs[i].deps {
			if j, ok := byName[d]; ok {
				visit(j)
			}
		}
		done[i] = true
		out = append(out, pkgs[i])
	}
	for i := range pkgs {
		visit(i)
	}
	return out
}

func lockError(path string, line int, msg string) error {
	return &jobspec.Error{Pos: jobspec.Pos{File: path, Line: line}, Key: "file", Msg: msg,
		Hint: "senv installs this platform's packages of a conda-lock.yml, a pixi.lock or an explicit list (conda list --explicit --md5) without a solve"}
}

// addLockFile reads a *.lock file: pixi.lock, or an explicit list as
// conda-lock writes per platform (conda-linux-64.lock).
func (s *Spec) addLockFile(path string) error {
	data, err := inputfile.Read(path, maxLockSize)
	if err != nil {
		return fileError("file", path, err)
	}
	if isExplicitFile(data) {
		return s.addExplicitFile(path, data)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return lockError(path, 1, "neither a pixi.lock nor an explicit list")
	}
	if !hasKey(doc.Content[0], "environments") {
		return lockError(path, 1, "not a pixi.lock (no environments:)")
	}
	return s.addPixiLock(path, doc.Content[0])
}

func hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

// checkCondaLockAlone refuses a conda lock file beside other packages (an
// error about the spec in dir, at its #ENV file line): the
// lock is the whole environment, and what else the spec names would be
// left out.
func (s *Spec) checkCondaLockAlone(dir string) error {
	if s.Explicit == "" || !hasPythonPart(s) && len(s.Conda) == 0 {
		return nil
	}
	return &jobspec.Error{Pos: jobspec.Pos{File: dir}, Key: "file", Msg: "a conda lock file is the whole environment: #ENV conda, pip and requirements cannot add to it",
		Hint: "add the packages to the lock with its tool (`pixi add`, `conda-lock`), or drop them"}
}
