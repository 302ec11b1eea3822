package jobspec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/shlex"
)

// MaxScriptSize is the largest script Parse accepts; sbatch scripts are
// small, and a larger input is almost certainly the wrong file.
const MaxScriptSize = 1 << 20

// Directive is one #ENV (or #SBATCH) line, or one flag, split into words.
type Directive struct {
	Key    string   `json:"key"`
	Values []string `json:"values,omitempty"`
	Pos    Pos      `json:"pos"`
}

// Script is a parsed batch script. Header and Payload together are the input
// byte for byte.
type Script struct {
	Name       string      `json:"name"`
	Shebang    string      `json:"shebang,omitempty"` // the first line without "#!", if it is one
	Header     []byte      `json:"-"`
	Payload    []byte      `json:"-"`
	SBatch     []string    `json:"sbatch,omitempty"` // raw #SBATCH option text, one entry per line
	Directives []Directive `json:"directives,omitempty"`
	Env        Env         `json:"env"`
	Warnings   []Warning   `json:"warnings,omitempty"`

	seen map[string]Pos // single keys already given, and where
}

// Parse reads a batch script. name is used only in positions. It returns
// the Script with every directive applied, or an ErrorList with every error
// found; the Script is nil whenever the error is not.
func Parse(r io.Reader, name string) (*Script, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxScriptSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", name, err)
	}
	if len(data) > MaxScriptSize {
		return nil, ErrorList{{Pos: Pos{File: name}, Msg: fmt.Sprintf("script is larger than %d bytes", MaxScriptSize),
			Hint: "is this the right file? senv reads batch scripts"}}
	}
	if i := bytes.Index(data, []byte("\r\n")); i >= 0 {
		line := bytes.Count(data[:i], []byte("\n")) + 1
		return nil, ErrorList{{Pos: Pos{File: name, Line: line}, Msg: "DOS line breaks (\\r\\n): sbatch refuses this script",
			Hint: "convert it with `dos2unix " + name + "`"}}
	}
	s := &Script{Name: name, seen: map[string]Pos{}}
	var errs ErrorList
	split := headerEnd(data)
	s.Header, s.Payload = data[:split], data[split:]
	if bytes.HasPrefix(data, []byte("#!")) {
		first, _, _ := bytes.Cut(data, []byte("\n"))
		s.Shebang = strings.TrimSpace(string(first[2:]))
	}
	forEachLine(s.Header, 1, func(n int, line []byte) {
		switch {
		case isDirective(line, "#ENV"):
			if e := s.addLine(Pos{File: name, Line: n}, line); e != nil {
				errs = append(errs, e)
			}
		case isDirective(line, "#SBATCH"):
			s.SBatch = append(s.SBatch, strings.TrimSpace(string(line[len("#SBATCH"):])))
		case n > 1 && len(bytes.TrimLeft(line, " \t")) < len(line) && isDirective(bytes.TrimLeft(line, " \t"), "#ENV"):
			s.Warnings = append(s.Warnings, Warning{Pos: Pos{File: name, Line: n},
				Msg: "#ENV is a directive only at column 0"})
		}
	})
	firstPayload := bytes.Count(s.Header, []byte("\n")) + 1
	forEachLine(s.Payload, firstPayload, func(n int, line []byte) {
		if isDirective(line, "#ENV") {
			s.Warnings = append(s.Warnings, Warning{Pos: Pos{File: name, Line: n},
				Msg: "#ENV after the first command is not a directive (move it above the first command, beside the #SBATCH lines)"})
		}
	})
	if looksPython(name, s.Shebang) {
		errs = append(errs, s.applyPEP723(data)...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// headerEnd returns the offset of the first byte after the header.
func headerEnd(data []byte) int {
	off := 0
	for n := 1; off < len(data); n++ {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		line := bytes.TrimLeft(data[off:next], " \t\n")
		if !(n == 1 && bytes.HasPrefix(line, []byte("#!"))) && len(line) > 0 && line[0] != '#' {
			return off
		}
		off = next
	}
	return off
}

func forEachLine(b []byte, first int, fn func(n int, line []byte)) {
	for n := first; len(b) > 0; n++ {
		line, rest, _ := bytes.Cut(b, []byte("\n"))
		fn(n, line)
		b = rest
	}
}

// isDirective reports whether line is prefix at column 0 followed by a
// space or a tab (or nothing, which then fails as a missing key).
func isDirective(line []byte, prefix string) bool {
	if !bytes.HasPrefix(line, []byte(prefix)) {
		return false
	}
	rest := line[len(prefix):]
	return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t'
}

// addLine splits one #ENV line and applies it.
func (s *Script) addLine(pos Pos, line []byte) *Error {
	text := line[len("#ENV"):]
	if !utf8.Valid(text) {
		return &Error{Pos: pos, Msg: "#ENV line is not valid UTF-8", Hint: "directives must be plain text"}
	}
	words, err := shlex.Split(string(text))
	if err != nil {
		return &Error{Pos: pos, Msg: "#ENV: " + err.Error(), Hint: "close the quote, or escape it with \\"}
	}
	if len(words) == 0 {
		return &Error{Pos: pos, Msg: "#ENV without a key", Hint: "write `#ENV KEY VALUE...`; keys: " + strings.Join(keyNames(), ", ")}
	}
	return s.Apply(Directive{Key: words[0], Values: words[1:], Pos: pos})
}

// Apply validates one directive and merges it into s.Env. A single key given
// a second time is an error when both come from the script; a flag
// overrides the script's value.
func (s *Script) Apply(d Directive) *Error {
	k := LookupKey(d.Key)
	if k == nil {
		key := d.Key
		if strconv.Quote(key) != `"`+key+`"` || key == "" {
			key = strconv.Quote(key) // never print raw control bytes to a terminal
		}
		e := &Error{Pos: d.Pos, Key: key, Msg: "unknown key", Hint: "keys: " + strings.Join(keyNames(), ", ")}
		if near := Nearest(d.Key, keyNames()); near != "" {
			e.Msg = fmt.Sprintf("unknown key (did you mean %q?)", near)
			e.Hint = ""
		}
		return e
	}
	if e := k.validate(d.Pos, d.Values); e != nil {
		return e
	}
	if k.Single {
		if prev, ok := s.seen[k.Name]; ok && prev.Flag == "" && d.Pos.Flag == "" {
			return &Error{Pos: d.Pos, Key: k.Name, Msg: fmt.Sprintf("given twice (first at line %d)", prev.Line),
				Hint: "keep one; a flag --" + k.Name + " overrides the script's value"}
		}
		if s.seen == nil {
			s.seen = map[string]Pos{}
		}
		s.seen[k.Name] = d.Pos
	}
	k.store(&s.Env, d.Values)
	s.Directives = append(s.Directives, d)
	return nil
}

// ApplyFlags merges command-line flags into s in order: list keys append,
// single keys override. It returns every error found.
func (s *Script) ApplyFlags(flags []Directive) error {
	var errs ErrorList
	for _, d := range flags {
		if e := s.Apply(d); e != nil {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// FromFlags builds a Script with an empty body from flags alone, for
// `senv run -- CMD` and `sbatch --wrap`.
func FromFlags(flags []Directive) (*Script, error) {
	s := &Script{Name: "flags", seen: map[string]Pos{}}
	if err := s.ApplyFlags(flags); err != nil {
		return nil, err
	}
	return s, nil
}

// AsErrorList unwraps err into an ErrorList, or returns nil when err holds
// none (an I/O error, say).
func AsErrorList(err error) ErrorList {
	var l ErrorList
	if errors.As(err, &l) {
		return l
	}
	var e *Error
	if errors.As(err, &e) {
		return ErrorList{e}
	}
	return nil
}
