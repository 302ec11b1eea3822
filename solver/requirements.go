package solver

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/google/shlex"

	"github.com/senv-hpc/senv/internal/inputfile"
	"github.com/senv-hpc/senv/jobspec"
)

// Bounds on what a spec's requirements files may reach.
const (
	maxRequirementsSize  = 4 << 20 // one file; pip-compile output of a large stack is ~300 KB
	maxRequirementsFiles = 256     // files reached through -r and -c
	maxTreeFiles         = 50000   // files of a local source tree that is hashed
)

// Requested is one requirement the user asked for at top level (not a
// dependency, not a constraint): the lock must hold it, or the solve fails
// naming it.
type Requested struct {
	// ID is the normalised name, or for a nameless URL or path the
	// normalised location (see locationID).
	ID   string
	Text string // as written
	Pos  jobspec.Pos
	// Conditional requirements (with a marker) may rightly be absent.
	Conditional bool
}

// requirementsScan reads requirements files the way pip does, for the few
// things senv must know before any tool runs: every file reached through -r
// and -c (their contents go into the spec key), every local source tree
// (its contents too, unless it is editable), and what is asked for at top
// level. Everything else (what a line means, hashes, index options) is left
// to the resolver, which is given the files themselves. Each line is checked
// so that `senv check` refuses what pip would.
type requirementsScan struct {
	key     string // the directive that named the file: "requirements" or "file"
	workDir string // where the resolver runs: relative requirement paths start here
	files   []string
	trees   []string
	req     []Requested
	seen    map[string]bool
	open    map[string]bool // files being read: a second visit is a -r loop
	// options uv ignores in a requirements file, which senv passes on its
	// command line instead
	pre          bool
	trustedHosts []string
	uvIgnores    []Requested
}

// pip's requirements file options (pip/_internal/req/req_file.py): those
// that take a value, and flags.
var (
	reqFileValueOpts = map[string]string{
		"-r": "-r", "--requirement": "-r", "-c": "-c", "--constraint": "-c", "-e": "-e", "--editable": "-e",
		"-i": "-i", "--index-url": "-i", "--extra-index-url": "--extra-index-url", "-f": "-f", "--find-links": "-f",
		"--trusted-host": "--trusted-host", "--only-binary": "--only-binary", "--no-binary": "--no-binary",
		"--use-feature": "--use-feature",
	}
	reqFileFlags = map[string]bool{"--no-index": true, "--pre": true, "--prefer-binary": true, "--require-hashes": true}
	// options allowed after a requirement on its line
	reqLineOpts = map[string]bool{"--hash": true, "--config-settings": true, "--global-option": true, "-C": true}

	reqCommentRe = regexp.MustCompile(`(^|\s+)#.*$`)
	reqEnvVarRe  = regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`)
	archiveExtRe = regexp.MustCompile(`\.(whl|zip|tar\.gz|tgz|tar\.bz2|tbz|tar\.xz|txz|tar)$`)
	vcsPrefixRe  = regexp.MustCompile(`^(git|hg|svn|bzr)\+`)
)

// add reads the requirements file path and every file it reaches. pos is
// where it was named (for a -r loop or a missing nested file).
func (sc *requirementsScan) add(path string, topLevel bool, pos jobspec.Pos) error {
	if sc.open[path] {
		return &jobspec.Error{Pos: pos, Key: sc.key, Msg: fmt.Sprintf("-r %s: the file includes itself (a -r loop)", path),
			Hint: "remove one of the -r lines that form the loop"}
	}
	if sc.seen[path] {
		return nil
	}
	if len(sc.files) >= maxRequirementsFiles {
		return &jobspec.Error{Pos: pos, Key: sc.key, Msg: fmt.Sprintf("more than %d requirements files reached through -r and -c", maxRequirementsFiles)}
	}
	data, err := inputfile.Read(path, maxRequirementsSize)
	if err != nil {
		return fileReadError(sc.key, path, pos, err)
	}
	sc.seen[path], sc.open[path] = true, true
	defer delete(sc.open, path)
	sum := sha256.Sum256(data)
	sc.files = append(sc.files, hex.EncodeToString(sum[:])+"  "+path)
	for _, ln := range logicalLines(string(data)) {
		lpos := jobspec.Pos{File: path, Line: ln.n}
		if err := sc.line(path, ln.text, topLevel, lpos); err != nil {
			return err
		}
	}
	return nil
}

type logicalLine struct {
	n    int
	text string
}

// logicalLines applies pip's preprocessing: lines ending in a backslash are
// joined with the next (a comment line ends the join), comments are removed,
// ${VAR} is expanded from the environment, and empty lines are dropped.
func logicalLines(data string) []logicalLine {
	var out []logicalLine
	var cur []string
	first := 0
	flush := func(n int, line string) {
		if cur != nil {
			cur = append(cur, line)
			line, n = strings.Join(cur, ""), first
			cur = nil
		}
		line = strings.TrimSpace(reqCommentRe.ReplaceAllString(line, ""))
		if line == "" {
			return
		}
		line = reqEnvVarRe.ReplaceAllStringFunc(line, func(m string) string {
			if v, ok := os.LookupEnv(m[2 : len(m)-1]); ok {
				return v
			}
			return m
		})
		out = append(out, logicalLine{n, line})
	}
	lines := strings.Split(data, "\n")
	for i, line := range lines {
		isComment := reqCommentRe.FindStringIndex(line) != nil && strings.HasPrefix(strings.TrimLeft(line, " \t"), "#")
		if !strings.HasSuffix(line, "\\") || isComment {
			flush(i+1, line)
			continue
		}
		if cur == nil {
			first = i + 1
		}
		cur = append(cur, strings.TrimSuffix(line, "\\"))
	}
	if cur != nil {
		flush(len(lines), "")
	}
	return out
}

// line checks one logical line and follows what it names.
func (sc *requirementsScan) line(file, line string, topLevel bool, pos jobspec.Pos) error {
	bad := func(msg, hint string) error { return &jobspec.Error{Pos: pos, Key: sc.key, Msg: msg, Hint: hint} }
	args, opts := splitArgsOptions(line)
	words, err := shlex.Split(opts)
	if err != nil {
		return bad(fmt.Sprintf("cannot split the options %q: %v", opts, err), "check the quotes")
	}
	if args != "" {
		for i := 0; i < len(words); i++ {
			name, _, hasValue := strings.Cut(words[i], "=")
			if !reqLineOpts[name] {
				return bad(fmt.Sprintf("%q is not an option a requirement line may carry", name), "a requirement may be followed by --hash, --config-settings or --global-option")
			}
			if !hasValue {
				i++
			}
		}
		return sc.requirement(args, topLevel, pos)
	}
	for i := 0; i < len(words); i++ {
		name, value, hasValue := strings.Cut(words[i], "=")
		canon, takesValue := reqFileValueOpts[name]
		if !takesValue && len(name) > 2 && !strings.HasPrefix(name, "--") {
			// -rfile, -cfile: optparse's short option with its value attached
			if c, ok := reqFileValueOpts[name[:2]]; ok {
				canon, takesValue, value, hasValue = c, true, words[i][2:], true
			}
		}
		switch {
		case reqFileFlags[name]:
			sc.pre = sc.pre || name == "--pre"
			if name == "--prefer-binary" {
				sc.uvIgnores = append(sc.uvIgnores, Requested{Text: name, Pos: pos})
			}
			continue
		case !takesValue:
			return bad(fmt.Sprintf("unknown option %q in a requirements file", name),
				"pip's requirements file options are -r, -c, -e, -i, --extra-index-url, -f, --no-index, --pre, --trusted-host, --only-binary, --no-binary, --prefer-binary, --require-hashes; --hash goes after a requirement")
		case !hasValue:
			if i+1 == len(words) {
				return bad(fmt.Sprintf("%s needs a value", name), "")
			}
			i++
			value = words[i]
		}
		switch canon {
		case "-r", "-c":
			nested := value
			if !filepath.IsAbs(nested) && !strings.Contains(nested, "://") {
				nested = filepath.Join(filepath.Dir(file), nested) // pip: relative to the file that names it
			}
			if strings.Contains(nested, "://") {
				return bad(fmt.Sprintf("%s %s: requirements files from URLs are not supported", canon, value), "download the file and name it by path, so that its contents are part of the spec")
			}
			if err := sc.add(nested, topLevel && canon == "-r", pos); err != nil {
				return err
			}
		case "-e":
			if err := sc.editable(value, topLevel, pos); err != nil {
				return err
			}
		case "--trusted-host":
			sc.trustedHosts = append(sc.trustedHosts, value)
		case "--use-feature":
			sc.uvIgnores = append(sc.uvIgnores, Requested{Text: name, Pos: pos})
		}
	}
	return nil
}

// splitArgsOptions splits a line as pip's break_args_options does: the
// words up to the first one starting with "-" are the requirement.
func splitArgsOptions(line string) (args, opts string) {
	tokens := strings.Split(line, " ")
	for i, t := range tokens {
		if strings.HasPrefix(t, "-") {
			return strings.Join(tokens[:i], " "), strings.Join(tokens[i:], " ")
		}
	}
	return line, ""
}

// requirement checks one requirement: a PEP 508 specifier, a URL, or a
// local path (file or source tree).
func (sc *requirementsScan) requirement(text string, topLevel bool, pos jobspec.Pos) error {
	add := func(id string, conditional bool) {
		if topLevel {
			sc.req = append(sc.req, Requested{ID: id, Text: text, Pos: pos, Conditional: conditional})
		}
	}
	loc, marker, _ := strings.Cut(text, ";")
	loc = strings.TrimSpace(loc)
	switch {
	case urlSchemeRe.MatchString(loc) || vcsPrefixRe.MatchString(loc):
		if name := eggName(loc); name != "" {
			add(normName(name), marker != "")
		} else {
			add(locationID(loc, sc.workDir), marker != "")
		}
		return sc.localURL(loc, false, pos)
	}
	if looksLikePath(loc) {
		p := resolve(sc.workDir, expandHome(loc))
		if info, err := os.Stat(p); err == nil {
			if info.IsDir() {
				sc.trees = append(sc.trees, p)
			}
			add(locationID(p, sc.workDir), marker != "")
			return nil
		}
	}
	r, err := jobspec.ParseRequirement(text)
	if err != nil && looksLikePath(loc) {
		return &jobspec.Error{Pos: pos, Key: sc.key, Msg: fmt.Sprintf("%q is not a PEP 508 requirement, and no such file or directory", loc),
			Hint: "a path in a requirements file is relative to the directory the job is submitted from (the script's directory), as for pip"}
	}
	if err != nil {
		return &jobspec.Error{Pos: pos, Key: sc.key, Msg: fmt.Sprintf("%q: %v", text, err),
			Hint: "each line is a requirement (numpy>=1.26, pkg @ URL, ./path), an option (-r, -c, -e, -i, ...) or a # comment"}
	}
	if r.URL != "" {
		if err := sc.localURL(r.URL, false, pos); err != nil {
			return err
		}
	}
	add(normName(r.Name), r.Marker != "")
	return nil
}

// editable checks an -e value: a local source tree (used in place, not
// hashed) or a VCS URL.
func (sc *requirementsScan) editable(v string, topLevel bool, pos jobspec.Pos) error {
	id := ""
	if urlSchemeRe.MatchString(v) || vcsPrefixRe.MatchString(v) {
		if err := sc.localURL(v, true, pos); err != nil {
			return err
		}
		id = firstNonEmpty(normName(eggName(v)), locationID(v, sc.workDir))
	} else {
		p := resolve(sc.workDir, expandHome(v))
		if info, err := os.Stat(p); err != nil || !info.IsDir() {
			return &jobspec.Error{Pos: pos, Key: sc.key, Msg: fmt.Sprintf("-e %s: not a directory", v),
				Hint: "-e takes a project directory (with pyproject.toml or setup.py) or a VCS URL"}
		}
		id = locationID(p, sc.workDir)
	}
	if topLevel {
		sc.req = append(sc.req, Requested{ID: id, Text: "-e " + v, Pos: pos})
	}
	return nil
}

// localURL checks that a file:// URL names something that exists, and
// records a source tree behind one (a file:// archive is pinned by its hash
// in the lock).
func (sc *requirementsScan) localURL(u string, editable bool, pos jobspec.Pos) error {
	bare := vcsPrefixRe.ReplaceAllString(u, "")
	if !strings.HasPrefix(bare, "file:") || vcsPrefixRe.MatchString(u) {
		return nil
	}
	p := fileURLPath(bare)
	info, err := os.Stat(p)
	if err != nil {
		return &jobspec.Error{Pos: pos, Key: sc.key, Msg: fmt.Sprintf("%s: %v", u, unwrapPathError(err))}
	}
	if info.IsDir() && !editable {
		sc.trees = append(sc.trees, p)
	}
	return nil
}

// eggName returns the #egg= name of a URL, if any.
func eggName(u string) string {
	_, frag, ok := strings.Cut(u, "#")
	if !ok {
		return ""
	}
	for _, part := range strings.Split(frag, "&") {
		if v, ok := strings.CutPrefix(part, "egg="); ok {
			return v
		}
	}
	return ""
}

// locationID normalises a URL or path so that a nameless requirement can be
// found in the lock: the VCS prefix, a revision, a fragment and a trailing
// slash are left out, and file URLs become paths.
func locationID(loc, workDir string) string {
	loc = vcsPrefixRe.ReplaceAllString(loc, "")
	loc, _, _ = strings.Cut(loc, "#")
	if strings.HasPrefix(loc, "file:") {
		loc = fileURLPath(loc)
	} else if !urlSchemeRe.MatchString(loc) {
		loc = resolve(workDir, loc)
	}
	if scheme := urlSchemeRe.FindString(loc); scheme != "" {
		rest := loc[len(scheme):]
		if i, slash := strings.LastIndex(rest, "@"), strings.Index(rest, "/"); slash >= 0 && i > slash {
			rest = rest[:i] // a VCS revision
		}
		loc = scheme + rest
	} else if i := strings.LastIndex(loc, "@"); i > strings.LastIndex(loc, "/") {
		loc = loc[:i]
	}
	return "@" + filepath.Clean(strings.TrimSuffix(loc, "/"))
}

func fileURLPath(u string) string {
	p := strings.TrimPrefix(u, "file:")
	p = strings.TrimPrefix(p, "//localhost")
	if strings.HasPrefix(p, "///") || !strings.HasPrefix(p, "//") {
		p = "/" + strings.TrimLeft(p, "/")
	}
	p, _, _ = strings.Cut(p, "#")
	return p
}

// looksLikePath reports whether a requirement is a local path, as pip's
// install_req_from_line decides: it has a path separator or starts with a
// dot, or names an archive.
func looksLikePath(s string) bool {
	return strings.HasPrefix(s, ".") || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "~") ||
		strings.Contains(s, string(filepath.Separator)) || archiveExtRe.MatchString(s)
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

var urlSchemeRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// normName normalises a distribution name as PEP 503 does.
func normName(n string) string {
	return nameSepRe.ReplaceAllString(strings.ToLower(n), "-")
}

// TreeHash returns a hash of a local source tree's layout and file stamps
// (path, mode, size, mtime), leaving out what builds and VCS write (.git,
// __pycache__, build/, dist/, *.egg-info, .venv). It is cheap enough for
// every job start; a file changed in place with its mtime kept is not seen.
func TreeHash(dir string) (string, error) {
	h := sha256.New()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && p != dir && (name == ".git" || name == "__pycache__" || name == "build" || name == "dist" ||
			name == ".venv" || name == ".tox" || name == ".nox" || strings.HasSuffix(name, ".egg-info")) {
			return filepath.SkipDir
		}
		if n++; n > maxTreeFiles {
			return fmt.Errorf("more than %d files", maxTreeFiles)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00%d\n", rel, info.Mode(), info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("failed to hash source tree %s: %w", dir, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// addRequirementsFile adds the requirements file path (named by directive
// key) to the spec: its path for the resolver, the contents of every file
// it reaches for the key, what it asks for at top level.
func (s *Spec) addRequirementsFile(path, key string) error {
	sc := &requirementsScan{key: key, workDir: s.WorkDir, seen: map[string]bool{}, open: map[string]bool{}}
	if err := sc.add(path, true, jobspec.Pos{File: path}); err != nil {
		return err
	}
	s.RequirementFiles = append(s.RequirementFiles, path)
	s.Files = append(s.Files, sc.files...)
	for _, t := range sc.trees {
		sum, err := TreeHash(t)
		if err != nil {
			return &jobspec.Error{Pos: jobspec.Pos{File: path}, Key: key, Msg: err.Error(), Hint: "install a large source tree with -e (editable), or build a wheel"}
		}
		s.Files = append(s.Files, "tree "+sum+"  "+t)
	}
	s.Requested = append(s.Requested, sc.req...)
	s.filePre = s.filePre || sc.pre
	s.fileTrustedHosts = append(s.fileTrustedHosts, sc.trustedHosts...)
	s.uvIgnores = append(s.uvIgnores, sc.uvIgnores...)
	return nil
}

// CheckLocked fails, naming them, when top-level requirements are not in
// the lock: whatever a resolver or a lock file left out must not make an
// env that lacks what the user asked for.
func CheckLocked(l *Lock, req []Requested) error {
	have := map[string]bool{}
	for _, p := range l.Provided {
		name, _, _ := strings.Cut(p, "==")
		have[name] = true // the env sees it (--system-site-packages)
	}
	for _, p := range l.Packages {
		have[normName(p.Name)] = true
		switch p.Kind() {
		case "vcs":
			have[locationID(firstNonEmpty(p.VCS.URL, p.VCS.Path), "/")] = true
		case "directory":
			have[locationID(p.Directory.Path, "/")] = true
		case "archive":
			have[locationID(firstNonEmpty(p.Archive.URL, p.Archive.Path), "/")] = true
		}
	}
	var missing []string
	for _, r := range req {
		if !have[r.ID] && !r.Conditional {
			where := ""
			if r.Pos.File != "" {
				where = " (" + r.Pos.String() + ")"
			}
			missing = append(missing, r.Text+where)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("failed to lock: the solve result lacks what was asked for: %s", strings.Join(missing, ", "))
	}
	return nil
}

func fileError(key, path string, err error) error {
	return fileReadError(key, path, jobspec.Pos{File: path}, err)
}

// fileReadError reports a file that could not be read, at pos.
func fileReadError(key, path string, pos jobspec.Pos, err error) error {
	hint := "paths are relative to the script's directory"
	var big *inputfile.TooLargeError
	switch {
	case errors.Is(err, inputfile.ErrNotRegular):
		hint = "name a regular file"
	case errors.As(err, &big):
		hint = "is this the right file?"
	case pos.File != path:
		hint = "-r and -c paths are relative to the requirements file that names them"
	}
	msg := fmt.Sprintf("cannot read %s: %v", path, unwrapPathError(err))
	if pos.File == path {
		msg = fmt.Sprintf("cannot read file: %v", unwrapPathError(err))
	}
	return &jobspec.Error{Pos: pos, Key: key, Msg: msg, Hint: hint}
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
