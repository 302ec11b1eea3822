package jobspec

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Env is what a job needs, merged from its #ENV directives, PEP 723 metadata
// and command-line flags. Paths are as written (relative to the script's
// directory); resolving them is the caller's business.
type Env struct {
	Modules        []string `json:"modules,omitempty"`
	Python         string   `json:"python,omitempty"`
	Pip            []string `json:"pip,omitempty"`
	Requirements   []string `json:"requirements,omitempty"`
	Conda          []string `json:"conda,omitempty"`
	Channels       []string `json:"channels,omitempty"`
	File           string   `json:"file,omitempty"`
	Extras         []string `json:"extras,omitempty"`
	Groups         []string `json:"groups,omitempty"`
	Manager        string   `json:"manager,omitempty"`
	Solver         string   `json:"solver,omitempty"`
	IndexURL       string   `json:"index_url,omitempty"`
	ExtraIndexURLs []string `json:"extra_index_urls,omitempty"`
	FindLinks      []string `json:"find_links,omitempty"`
	NoIndex        bool     `json:"no_index,omitempty"`
	SystemSite     bool     `json:"system_site_packages,omitempty"`
	Use            string   `json:"use,omitempty"`
	SetEnv         []string `json:"setenv,omitempty"`
	Stage          string   `json:"stage,omitempty"`
	Name           string   `json:"name,omitempty"`
}

// Empty reports whether the Env asks for nothing at all.
func (e *Env) Empty() bool {
	return e.Python == "" && e.Manager == "" && e.Solver == "" && e.IndexURL == "" &&
		!e.NoIndex && !e.SystemSite && e.Use == "" && e.Stage == "" && e.Name == "" && e.File == "" &&
		len(e.Modules)+len(e.Pip)+len(e.Requirements)+len(e.Conda)+len(e.Channels)+
			len(e.ExtraIndexURLs)+len(e.FindLinks)+len(e.SetEnv)+len(e.Extras)+len(e.Groups) == 0
}

// NeedsEnv reports whether the Env asks for a Python environment (built or
// existing), as opposed to modules and variables only.
func (e *Env) NeedsEnv() bool {
	return e.Python != "" || e.File != "" || e.Use != "" ||
		len(e.Pip)+len(e.Requirements)+len(e.Conda) > 0
}

// Key describes one directive key: how many values it takes, whether it may
// be given twice, and how its values are checked and stored.
type Key struct {
	Name   string
	Single bool // a second occurrence in one script is an error
	Min    int  // fewest values
	Max    int  // most values; -1 for no limit
	Usage  string
	Help   string
	check  func(v string) (msg, hint string)
	store  func(e *Env, vals []string)
}

// Managers are the values the manager key accepts.
var Managers = []string{"venv", "uv", "conda", "mamba", "micromamba"}

var (
	moduleRe  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+/@:,=-]*$`)
	envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	labelRe   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	condaRe   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+=<>!*,|/:\[\]'"~@ -]*$`)
	channelRe = regexp.MustCompile(`^[A-Za-z0-9_./:@%~+-]+$`)
)

// Keys is the table of every #ENV key, in the order the README documents them.
var Keys = []*Key{
	{Name: "module", Min: 1, Max: -1, Usage: "NAME...", Help: "modules to load, in this order, before activation",
		check: oneOf(moduleRe, "a module name holds only letters, digits and _ . + / @ : , = -", "write it as `module avail` shows it, e.g. cuda/12.1"),
		store: func(e *Env, v []string) { e.Modules = append(e.Modules, v...) }},
	{Name: "python", Single: true, Min: 1, Max: 1, Usage: "VERSION|SPECIFIER", Help: "Python version or range, e.g. 3.11 or '>=3.10,<3.13'",
		check: checkPython,
		store: func(e *Env, v []string) { e.Python = v[0] }},
	{Name: "pip", Min: 1, Max: -1, Usage: "REQUIREMENT...", Help: "PEP 508 requirements", check: checkPip,
		store: func(e *Env, v []string) { e.Pip = append(e.Pip, v...) }},
	{Name: "requirements", Min: 1, Max: -1, Usage: "FILE...", Help: "pip requirements files, relative to the script", check: checkPath,
		store: func(e *Env, v []string) { e.Requirements = append(e.Requirements, v...) }},
	{Name: "conda", Min: 1, Max: -1, Usage: "MATCHSPEC...", Help: "conda packages; -c/--channel NAME adds a channel", check: nil,
		store: storeConda},
	{Name: "channel", Min: 1, Max: -1, Usage: "NAME...", Help: "conda channels, highest priority first",
		check: oneOf(channelRe, "a channel is a name or a URL without spaces or shell characters", "e.g. conda-forge"),
		store: func(e *Env, v []string) { e.Channels = append(e.Channels, v...) }},
	{Name: "file", Single: true, Min: 1, Max: 1, Usage: "FILE", Help: "environment.yml, requirements.txt, pyproject.toml (with its uv.lock) or pylock.toml", check: checkEnvFile,
		store: func(e *Env, v []string) { e.File = v[0] }},
	{Name: "extra", Min: 1, Max: -1, Usage: "NAME...", Help: "optional dependencies of the pyproject.toml (its [project.optional-dependencies])",
		check: oneOf(labelRe, "an extra name holds only letters, digits and _ . -", "e.g. `#ENV extra gpu`"),
		store: func(e *Env, v []string) { e.Extras = append(e.Extras, v...) }},
	{Name: "group", Min: 1, Max: -1, Usage: "NAME...", Help: "dependency groups of the pyproject.toml (its [dependency-groups])",
		check: oneOf(labelRe, "a group name holds only letters, digits and _ . -", "e.g. `#ENV group test`"),
		store: func(e *Env, v []string) { e.Groups = append(e.Groups, v...) }},
	{Name: "manager", Single: true, Min: 1, Max: 1, Usage: "venv|uv|conda|mamba|micromamba", Help: "who builds the environment",
		check: enum(Managers...), store: func(e *Env, v []string) { e.Manager = v[0] }},
	{Name: "solver", Single: true, Min: 1, Max: 1, Usage: "libmamba|classic", Help: "conda solver",
		check: enum("libmamba", "classic"), store: func(e *Env, v []string) { e.Solver = v[0] }},
	{Name: "index-url", Single: true, Min: 1, Max: 1, Usage: "URL", Help: "pip/uv package index", check: checkSource,
		store: func(e *Env, v []string) { e.IndexURL = v[0] }},
	{Name: "extra-index-url", Min: 1, Max: -1, Usage: "URL...", Help: "extra pip/uv package indexes", check: checkSource,
		store: func(e *Env, v []string) { e.ExtraIndexURLs = append(e.ExtraIndexURLs, v...) }},
	{Name: "find-links", Min: 1, Max: -1, Usage: "URL|PATH...", Help: "pip/uv wheel directories (site wheelhouses)", check: checkSource,
		store: func(e *Env, v []string) { e.FindLinks = append(e.FindLinks, v...) }},
	{Name: "no-index", Single: true, Min: 0, Max: 0, Usage: "", Help: "use only find-links, no package index",
		store: func(e *Env, _ []string) { e.NoIndex = true }},
	{Name: "system-site-packages", Single: true, Min: 0, Max: 0, Usage: "", Help: "the env sees the packages its modules provide (a site's scipy-stack); they are not installed again",
		store: func(e *Env, _ []string) { e.SystemSite = true }},
	{Name: "use", Single: true, Min: 1, Max: 1, Usage: "PATH|conda:NAME", Help: "activate an existing environment instead of building one", check: checkUse,
		store: func(e *Env, v []string) { e.Use = v[0] }},
	{Name: "setenv", Min: 1, Max: -1, Usage: "NAME=VALUE...", Help: "variables exported after activation", check: checkSetenv,
		store: func(e *Env, v []string) { e.SetEnv = append(e.SetEnv, v...) }},
	{Name: "stage", Single: true, Min: 1, Max: 1, Usage: "local|none", Help: "run from node-local disk (local) or from the shared cache (none)",
		check: enum("local", "none"), store: func(e *Env, v []string) { e.Stage = v[0] }},
	{Name: "name", Single: true, Min: 1, Max: 1, Usage: "NAME", Help: "a label for `senv ls`",
		check: oneOf(labelRe, "a name holds only letters, digits and _ . -", "e.g. `#ENV name torch-cuda`"),
		store: func(e *Env, v []string) { e.Name = v[0] }},
}

// LookupKey returns the Key called name, or nil.
func LookupKey(name string) *Key {
	for _, k := range Keys {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// validate checks a directive's values against k and returns the first
// problem as an Error at pos.
func (k *Key) validate(pos Pos, vals []string) *Error {
	bad := func(msg, hint string) *Error { return &Error{Pos: pos, Key: k.Name, Msg: msg, Hint: hint} }
	if len(vals) < k.Min {
		return bad("missing value", fmt.Sprintf("write `#ENV %s %s`", k.Name, k.Usage))
	}
	if k.Max >= 0 && len(vals) > k.Max {
		if k.Max == 0 {
			return bad("takes no value", fmt.Sprintf("write `#ENV %s` alone", k.Name))
		}
		return bad(fmt.Sprintf("takes one value, got %d", len(vals)), fmt.Sprintf("write `#ENV %s %s`", k.Name, k.Usage))
	}
	for _, v := range vals {
		if msg := checkText(v); msg != "" {
			return bad(fmt.Sprintf("%s in %q", msg, v), "")
		}
		if k.check != nil {
			if msg, hint := k.check(v); msg != "" {
				return bad(fmt.Sprintf("%s: %s", quoteShort(v), msg), hint)
			}
		}
	}
	if k.Name == "conda" {
		return checkConda(pos, vals)
	}
	return nil
}

// quoteShort quotes a value for a message, cut after 60 bytes.
func quoteShort(v string) string {
	if len(v) > 60 {
		return fmt.Sprintf("%q...", v[:60])
	}
	return fmt.Sprintf("%q", v)
}

// checkText refuses bytes that can never be part of a value.
func checkText(v string) string {
	switch {
	case v == "":
		return "empty value"
	case !utf8.ValidString(v):
		return "invalid UTF-8"
	case strings.ContainsAny(v, "\x00\n\r"):
		return "control character"
	}
	for _, r := range v {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return "control character"
		}
	}
	return ""
}

func oneOf(re *regexp.Regexp, msg, hint string) func(string) (string, string) {
	return func(v string) (string, string) {
		if !re.MatchString(v) {
			return msg, hint
		}
		return "", ""
	}
}

func enum(vals ...string) func(string) (string, string) {
	return func(v string) (string, string) {
		for _, ok := range vals {
			if v == ok {
				return "", ""
			}
		}
		hint := "one of: " + strings.Join(vals, ", ")
		if near := Nearest(v, vals); near != "" {
			hint = fmt.Sprintf("did you mean %q? (%s)", near, hint)
		}
		return "unknown value", hint
	}
}

func checkPip(v string) (string, string) {
	if strings.HasPrefix(v, "-") {
		return "options are not requirements", "use the index-url, extra-index-url, find-links or no-index keys for package sources, a requirements file for -e and -c"
	}
	if strings.ContainsAny(v, "`$") {
		return "not a PEP 508 requirement", "a requirement holds no ` or $ (nothing is expanded in #ENV lines)"
	}
	if _, err := ParseRequirement(v); err != nil {
		return err.Error(), "e.g. `numpy`, `torch==2.3.*`, `pkg[extra]>=1.0`, `pkg @ git+https://host/repo@v1`; quote a marker: '" + `pkg; python_version<"3.12"` + "'"
	}
	return "", ""
}

func checkPython(v string) (string, string) {
	if _, err := ParsePythonSpec(v); err != nil {
		return "not a Python version or specifier", "e.g. `#ENV python 3.11` or `#ENV python '>=3.10,<3.13'`"
	}
	return "", ""
}

func checkPath(v string) (string, string) {
	if strings.HasPrefix(v, "-") {
		return "a file name may not start with -", "write ./" + v
	}
	return "", ""
}

func checkEnvFile(v string) (string, string) {
	if msg, hint := checkPath(v); msg != "" {
		return msg, hint
	}
	if FileKind(v) == "" {
		return "unknown kind of environment file", "name it environment.yml, requirements.txt (any *.txt), pyproject.toml, pylock.toml (pylock.NAME.toml), or a conda lock: conda-lock.yml, pixi.lock, conda-linux-64.lock"
	}
	return "", ""
}

// FileKind classifies the value of the file key by its name: "conda" for
// environment.yml/.yaml (and conda-lock.yml), "pyproject" for
// pyproject.toml, "pylock" for a PEP 751 pylock.toml or pylock.NAME.toml,
// "requirements" for *.txt (a conda explicit list too), "lock" for
// pixi.lock and conda-lock's conda-PLATFORM.lock, "" for anything else.
func FileKind(name string) string {
	base := path.Base(name)
	switch {
	case base == "pylock.toml" || strings.HasPrefix(base, "pylock.") && strings.HasSuffix(base, ".toml") && !strings.Contains(strings.TrimSuffix(strings.TrimPrefix(base, "pylock."), ".toml"), "."):
		return "pylock"
	case strings.HasSuffix(base, ".yml") || strings.HasSuffix(base, ".yaml"):
		return "conda"
	case base == "pyproject.toml":
		return "pyproject"
	case strings.HasSuffix(base, ".txt"):
		return "requirements"
	case base == "pixi.lock" || strings.HasPrefix(base, "conda-") && strings.HasSuffix(base, ".lock"):
		return "lock"
	}
	return ""
}

func checkSource(v string) (string, string) {
	if strings.HasPrefix(v, "-") {
		return "a source may not start with -", ""
	}
	if strings.ContainsAny(v, " \t") {
		return "a source holds no spaces", ""
	}
	return "", ""
}

func checkUse(v string) (string, string) {
	if name, ok := strings.CutPrefix(v, "conda:"); ok {
		if !labelRe.MatchString(name) {
			return "not a conda environment name", "e.g. `#ENV use conda:myenv`"
		}
		return "", ""
	}
	return checkPath(v)
}

// maxArgLen is the kernel's bound on one argument or environment string
// (MAX_ARG_STRLEN, 32 pages): a longer NAME=VALUE makes every exec fail.
const maxArgLen = 32 * 4096

func checkSetenv(v string) (string, string) {
	if len(v) >= maxArgLen {
		return fmt.Sprintf("%d bytes: the kernel refuses an environment string of %d bytes or more", len(v), maxArgLen), "put a large value in a file and pass its path"
	}
	name, _, ok := strings.Cut(v, "=")
	if !ok {
		return "missing =", "write NAME=VALUE"
	}
	if !envNameRe.MatchString(name) {
		return "variable name must match [A-Za-z_][A-Za-z0-9_]*", "write NAME=VALUE"
	}
	return "", ""
}

// splitConda separates -c/--channel options from match specs.
func splitConda(vals []string) (specs, channels []string, err string) {
	for i := 0; i < len(vals); i++ {
		v := vals[i]
		switch {
		case v == "-c" || v == "--channel":
			if i+1 == len(vals) {
				return nil, nil, v + " needs a channel name"
			}
			i++
			channels = append(channels, vals[i])
		case strings.HasPrefix(v, "--channel="):
			channels = append(channels, strings.TrimPrefix(v, "--channel="))
		case strings.HasPrefix(v, "-"):
			return nil, nil, fmt.Sprintf("unknown option %q", v)
		default:
			specs = append(specs, v)
		}
	}
	return specs, channels, ""
}

func checkConda(pos Pos, vals []string) *Error {
	specs, channels, msg := splitConda(vals)
	if msg != "" {
		return &Error{Pos: pos, Key: "conda", Msg: msg, Hint: "write `#ENV conda -c CHANNEL SPEC...`"}
	}
	if len(specs) == 0 {
		return &Error{Pos: pos, Key: "conda", Msg: "no package given", Hint: "write `#ENV conda SPEC...`"}
	}
	for _, s := range specs {
		if !condaRe.MatchString(s) {
			return &Error{Pos: pos, Key: "conda", Msg: fmt.Sprintf("%q: not a conda match spec", s), Hint: "e.g. `pytorch=2.3`, `numpy>=1.26`, `conda-forge::scipy`"}
		}
	}
	for _, c := range channels {
		if !channelRe.MatchString(c) {
			return &Error{Pos: pos, Key: "conda", Msg: fmt.Sprintf("%q: not a channel", c), Hint: "e.g. conda-forge"}
		}
	}
	return nil
}

func storeConda(e *Env, vals []string) {
	specs, channels, _ := splitConda(vals)
	e.Conda = append(e.Conda, specs...)
	e.Channels = append(e.Channels, channels...)
}

// Nearest returns the candidate closest to s by edit distance, if it is close
// enough to be a plausible typo, else "".
func Nearest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	for _, c := range sorted {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= 2 || bestD <= len(s)/3 {
		return best
	}
	return ""
}

// editDistance is the Damerau-Levenshtein (optimal string alignment)
// distance, so that a swapped pair of letters counts as one typo.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// keyNames lists every key name.
func keyNames() []string {
	names := make([]string, len(Keys))
	for i, k := range Keys {
		names[i] = k.Name
	}
	return names
}
