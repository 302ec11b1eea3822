package jobspec

import (
	"bytes"
	"testing"
)

// FuzzParse checks Parse's invariants on any input: it never panics; on
// success Header and Payload are the input byte for byte, the header ends at
// a line boundary, and every directive points at a line that is one (a
// "#ENV" line, or the "# /// script" line of a PEP 723 block); on failure
// the error is an ErrorList whose positions lie inside the input.
// Seeds: testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte("#!/bin/bash\n#SBATCH -N1\n#ENV module cuda/12.1\n#ENV pip numpy\npython x.py\n"))
	f.Add([]byte("#!/usr/bin/env python3\n# /// script\n# requires-python = \">=3.11\"\n# dependencies = [\"rich\"]\n# ///\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"fuzz.sh", "fuzz.py"} {
			checkParse(t, data, name)
		}
	})
}

func checkParse(t *testing.T, data []byte, name string) {
	s, err := Parse(bytes.NewReader(data), name)
	lines := bytes.Split(data, []byte("\n"))
	if err != nil {
		if s != nil {
			t.Fatalf("%s: Parse returned a Script and an error", name)
		}
		list := AsErrorList(err)
		if len(list) == 0 {
			t.Fatalf("%s: error %T %v is no ErrorList", name, err, err)
		}
		for _, e := range list {
			if e.Pos.File != name && e.Pos.Line != 0 {
				continue // an error in another file cannot come from Parse
			}
			if e.Pos.Line < 0 || e.Pos.Line > len(lines) {
				t.Fatalf("%s: error at line %d of a %d-line input: %v", name, e.Pos.Line, len(lines), e)
			}
			if e.Msg == "" {
				t.Fatalf("%s: error without a message at %v", name, e.Pos)
			}
		}
		return
	}
	if s == nil {
		t.Fatalf("%s: Parse returned neither a Script nor an error", name)
	}
	if got := append(append([]byte(nil), s.Header...), s.Payload...); !bytes.Equal(got, data) {
		t.Fatalf("%s: Header+Payload = %q, want %q", name, got, data)
	}
	if len(s.Header) > 0 && len(s.Payload) > 0 && s.Header[len(s.Header)-1] != '\n' {
		t.Fatalf("%s: header %q does not end at a line boundary", name, s.Header)
	}
	if bytes.Contains(data, []byte("\r\n")) {
		t.Fatalf("%s: a script with DOS line breaks parsed", name)
	}
	headerLines := bytes.Count(s.Header, []byte("\n")) + 1
	for _, d := range s.Directives {
		n := d.Pos.Line
		if n < 1 || n > len(lines) {
			t.Fatalf("%s: directive %q at line %d of a %d-line input", name, d.Key, n, len(lines))
		}
		line := lines[n-1]
		switch {
		case isDirective(line, "#ENV"):
			if n > headerLines {
				t.Fatalf("%s: directive at line %d, after the header (%d lines)", name, n, headerLines)
			}
		case bytes.Equal(line, []byte("# /// script")) && (d.Key == "python" || d.Key == "pip"):
		default:
			t.Fatalf("%s: directive %q at line %d, which is %q", name, d.Key, n, line)
		}
		if LookupKey(d.Key) == nil {
			t.Fatalf("%s: unknown key %q accepted", name, d.Key)
		}
		for _, v := range d.Values {
			if checkText(v) != "" {
				t.Fatalf("%s: value %q accepted", name, v)
			}
		}
	}
	for _, w := range s.Warnings {
		if w.Pos.Line < 1 || w.Pos.Line > len(lines) {
			t.Fatalf("%s: warning at line %d of a %d-line input", name, w.Pos.Line, len(lines))
		}
	}
	if s.Env.Empty() != (len(s.Directives) == 0) {
		t.Fatalf("%s: Env.Empty() = %v with %d directives", name, s.Env.Empty(), len(s.Directives))
	}
}
