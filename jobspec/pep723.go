package jobspec

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/senv-hpc/senv/internal/inputfile"
)

// PEP 723 metadata blocks, by the PEP's reference regular expression: a
// "# /// TYPE" line, comment lines, and the last "# ///" line that follows
// them without a break (so a "# ///" inside a TOML string does not end the
// block).
var pep723Re = regexp.MustCompile(`(?m)^# /// ([a-zA-Z0-9-]+)$\n((?:^#(?:| .*)$\n)+)^# ///$`)

// looksPython reports whether a script is Python by its name or shebang.
func looksPython(name, shebang string) bool {
	return strings.HasSuffix(name, ".py") || strings.Contains(shebang, "python")
}

// applyPEP723 maps a PEP 723 script block onto the python and pip keys.
func (s *Script) applyPEP723(data []byte) ErrorList {
	var block []int
	for _, m := range pep723Re.FindAllSubmatchIndex(data, -1) {
		if string(data[m[2]:m[3]]) != "script" {
			continue
		}
		if block != nil {
			line := bytes.Count(data[:m[0]], []byte("\n")) + 1
			return ErrorList{{Pos: Pos{File: s.Name, Line: line}, Msg: "a second `# /// script` block",
				Hint: "PEP 723 allows one script block: merge them"}}
		}
		block = m
	}
	if block == nil {
		return nil
	}
	line := bytes.Count(data[:block[0]], []byte("\n")) + 1
	pos := Pos{File: s.Name, Line: line}
	var body strings.Builder
	for _, l := range strings.SplitAfter(string(data[block[4]:block[5]]), "\n") {
		l = strings.TrimPrefix(l, "#")
		body.WriteString(strings.TrimPrefix(l, " "))
	}
	if err := inputfile.CheckTOML([]byte(body.String())); err != nil {
		return ErrorList{{Pos: pos, Msg: "PEP 723 script metadata: " + err.Error(), Hint: "the block between `# /// script` and `# ///` must be plain TOML"}}
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
		if _, err := ParsePythonSpec(meta.RequiresPython); err != nil {
			errs = append(errs, &Error{Pos: pos, Key: "python", Msg: fmt.Sprintf("requires-python %q: %v", meta.RequiresPython, err),
				Hint: "write a version specifier such as \">=3.11\" or \">=3.10,<3.13\""})
		} else if _, given := s.seen["python"]; !given {
			if e := s.Apply(Directive{Key: "python", Values: []string{strings.TrimSpace(meta.RequiresPython)}, Pos: pos}); e != nil {
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
