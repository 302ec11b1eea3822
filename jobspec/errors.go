package jobspec

import (
	"fmt"
	"strings"
)

// Pos is where a directive or an error comes from: a line (and column, where
// it helps) of a file, or a command-line flag when Flag is set.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
	Flag string `json:"flag,omitempty"`
}

// String renders the position as "file:line[:col]" or "flag --name".
func (p Pos) String() string {
	switch {
	case p.Flag != "":
		return "flag --" + p.Flag
	case p.Line == 0:
		return p.File
	case p.Col > 0:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	default:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
}

// Error is a spec error at a position, for one key where it concerns one.
// Hint, when set, tells the user how to fix it.
type Error struct {
	Pos  Pos
	Key  string
	Msg  string
	Hint string
}

func (e *Error) Error() string {
	if e.Key != "" && e.Pos.Flag == "" {
		return fmt.Sprintf("%s: #ENV %s: %s", e.Pos, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
}

// ErrorList is every error found in one parse, in input order. It is
// returned only when non-empty.
type ErrorList []*Error

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Warning is a problem that does not stop the script from running, such as
// an #ENV line after the header. Hint, when set, tells the user what to
// do about it.
type Warning struct {
	Pos  Pos    `json:"pos"`
	Msg  string `json:"msg"`
	Hint string `json:"hint,omitempty"`
}

func (w Warning) String() string { return fmt.Sprintf("%s: warning: %s", w.Pos, w.Msg) }
