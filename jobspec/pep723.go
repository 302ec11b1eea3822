package jobspec

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
)

// PEP 723 inline script metadata: a "# /// script" block of comment lines
// holding TOML, closed by "# ///".
var pep723Re = regexp.MustCompile(`(?m)^# /// script\n((?:^#(?:| .*)\n)+?)^# ///$`)

// requiresPythonRe matches one clause of requires-python that gives a lower
// bound: ">=3.11", "==3.11.*", "~=3.11".
var requiresPythonRe = regexp.MustCompile(`^\s*(?:>=|==|~=)\s*([0-9]+\.[0-9]+)(?:\.[0-9*]+)*\s*$`)

// lowerBound returns the X.Y of the first lower-bound clause of a
// requires-python specifier, in whatever order the clauses come.
func lowerBound(spec string) string {
	for _, clause := range strings.Split(spec, ",") {
		if m := requiresPythonRe.FindStringSubmatch(clause); m != nil {
			return m[1]
		}
	}
	return ""
}

// looksPython reports whether a script is Python by its name or shebang.
func looksPython(name, shebang string) bool {
	return strings.HasSuffix(name, ".py") || strings.Contains(shebang, "python")
}

// applyPEP723 maps a PEP 723 block onto the python and pip keys.
func (s *Script) applyPEP723(data []byte) ErrorList {
	m := pep723Re.FindSubmatchIndex(data)
	if m == nil {
		return nil
	}
	line := bytes.Count(data[:m[0]], []byte("\n")) + 1
	pos := Pos{File: s.Name, Line: line}
	var body strings.Builder
	for _, l := range strings.SplitAfter(string(data[m[2]:m[3]]), "\n") {
		l = strings.TrimPrefix(l, "#")
		body.WriteString(strings.TrimPrefix(l, " "))
	}
	var meta struct {
		RequiresPython string   `toml:"requires-python"`
		Dependencies   []string `toml:"dependencies"`
	}
	if _, err := toml.Decode(body.String(), &meta); err != nil {
		return ErrorList{{Pos: pos, Msg: "PEP 723 script metadata: " + err.Error(), Hint: "the block between `# /// script` and `# ///` must be TOML"}}
	}
	var errs ErrorList
	if meta.RequiresPython != "" {
		version := lowerBound(meta.RequiresPython)
		if version == "" {
			errs = append(errs, &Error{Pos: pos, Key: "python", Msg: fmt.Sprintf("requires-python %q: senv needs a lower bound like \">=3.11\"", meta.RequiresPython),
				Hint: "write requires-python = \">=3.11\" or add `#ENV python 3.11`"})
		} else if _, given := s.seen["python"]; !given {
			if e := s.Apply(Directive{Key: "python", Values: []string{version}, Pos: pos}); e != nil {
				errs = append(errs, e)
			}
		}
	}
	if len(meta.Dependencies) > 0 {
		if e := s.Apply(Directive{Key: "pip", Values: meta.Dependencies, Pos: pos}); e != nil {
			errs = append(errs, e)
		}
	}
	return errs
}
