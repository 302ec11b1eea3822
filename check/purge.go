package check

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/solver"
)

// ModuleResets warns about every payload line of s that undoes the modules
// senv loads: `module purge`, `module --force purge`, `ml purge`, `module
// restore` and `module reset` (and their `ml` forms). senv's block runs
// after the header, before the payload, so such a line unloads the #ENV
// modules (and the python module of python_module) without a word; the
// env's python may then not even start. A script for which senv loads no
// module gets no warning: there is nothing to undo.
//
// It reads the payload line by line, as a shell would split it into
// commands (`;`, `&&`, `|`, `then`, ...), skipping comments and here-document
// bodies; it does not follow functions or sourced files. dir is the
// script's directory, for the spec's module list. Pure apart from reading
// the spec's files; safe for concurrent use.
func ModuleResets(s *jobspec.Script, cfg *config.Config, dir string) []jobspec.Warning {
	modules := s.Env.Modules
	if spec, err := solver.Canonicalize(&s.Env, dir, cfg); err == nil {
		modules = spec.Modules // with the python module
	}
	if len(modules) == 0 {
		return nil
	}
	var out []jobspec.Warning
	first := strings.Count(string(s.Header), "\n") + 1
	var heredoc *heredocEnd
	for i, line := range strings.Split(string(s.Payload), "\n") {
		if heredoc != nil {
			if heredoc.ends(line) {
				heredoc = nil
			}
			continue
		}
		heredoc = heredocStart(line)
		for _, cmd := range commands(line) {
			if r, ok := moduleReset(cmd); ok {
				out = append(out, jobspec.Warning{
					Pos:  jobspec.Pos{File: s.Name, Line: first + i},
					Msg:  r.message(modules),
					Hint: r.hint(),
				})
			}
		}
	}
	return out
}

// reset is one command that unloads what senv loaded.
type reset struct {
	text  string // as written, normalized to single spaces: "ml --force purge"
	sub   string // purge, restore or reset
	force bool
}

func (r reset) message(modules []string) string {
	what, with := "unloads", ""
	switch r.sub {
	case "restore":
		what, with = "replaces", " with a saved collection"
	case "reset":
		what, with = "replaces", " with the site's default modules"
	}
	return fmt.Sprintf("%q %s the modules senv loaded before the payload (%s)%s: the job runs without them, and the env's python may not start",
		r.text, what, strings.Join(modules, " "), with)
}

func (r reset) hint() string {
	h := "delete this line and list every module the job needs as #ENV module, in order; " +
		"or clear the modules before senv loads them: run `module purge` in the shell you submit from (the job inherits its modules) or before `senv run`"
	switch {
	case r.force:
		h += "; --force also unloads the site's sticky modules, which plain purge keeps"
	case r.sub == "restore":
		h += "; `module describe NAME` lists a collection's modules"
	}
	return h
}

// moduleReset reports whether the words of one command are a module
// command that unloads everything.
func moduleReset(words []string) (reset, bool) {
	i := 0
	for i < len(words) && (shellKeywords[words[i]] || isAssignment(words[i])) {
		i++
	}
	if i >= len(words) || (words[i] != "module" && words[i] != "ml") {
		return reset{}, false
	}
	start := i
	force := false
	for i++; i < len(words) && strings.HasPrefix(words[i], "-"); i++ {
		force = force || words[i] == "--force" || words[i] == "-f"
	}
	if i >= len(words) || (words[i] != "purge" && words[i] != "restore" && words[i] != "reset") {
		return reset{}, false
	}
	end := i + 1
	for _, w := range words[end:] { // Lmod takes options after the subcommand too
		if w == "--force" || w == "-f" {
			force, end = true, len(words)
		}
	}
	return reset{text: strings.Join(words[start:end], " "), sub: words[i], force: force}, true
}

// shellKeywords may come before a command's name.
var shellKeywords = map[string]bool{
	"then": true, "do": true, "else": true, "elif": true, "if": true, "while": true, "until": true,
	"!": true, "time": true, "command": true, "builtin": true, "eval": true,
}

func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	return ok && name != "" && strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == ""
}

// commands splits one shell line into the words of its commands: quotes
// are removed, a comment ends the line, and ; & | ( ) and a { or } that
// begins a word separate commands.
func commands(line string) [][]string {
	var cmds [][]string
	var words []string
	var word strings.Builder
	inWord := false
	endWord := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	endCmd := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
			words = nil
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && i+1 < len(line):
			i++
			word.WriteByte(line[i])
			inWord = true
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				j = len(line) - i - 1
			}
			word.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := i + 1
			for j < len(line) && line[j] != '"' {
				if line[j] == '\\' && j+1 < len(line) {
					j++
				}
				word.WriteByte(line[j])
				j++
			}
			i = j
			inWord = true
		case c == ' ' || c == '\t':
			endWord()
		case c == '#' && !inWord:
			endCmd()
			return cmds
		case strings.IndexByte(";&|()", c) >= 0 || ((c == '{' || c == '}') && !inWord):
			endCmd()
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	endCmd()
	return cmds
}

// heredocEnd is the terminator of a here-document.
type heredocEnd struct {
	word      string
	stripTabs bool // <<-
}

func (h *heredocEnd) ends(line string) bool {
	if h.stripTabs {
		line = strings.TrimLeft(line, "\t")
	}
	return line == h.word
}

var heredocRE = regexp.MustCompile(`(?:^|[^<])<<(-?)[ \t]*(?:'([^']+)'|"([^"]+)"|\\?([A-Za-z0-9_]+))`)

// heredocStart returns the terminator of a here-document that line opens,
// or nil. (Only the first of several on one line is skipped.)
func heredocStart(line string) *heredocEnd {
	m := heredocRE.FindStringSubmatch(line)
	if m == nil {
		return nil
	}
	return &heredocEnd{word: m[2] + m[3] + m[4], stripTabs: m[1] == "-"}
}
