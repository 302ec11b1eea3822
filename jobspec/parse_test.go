package jobspec

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// parseOK parses src and fails the test on any error.
func parseOK(t *testing.T, src, name string) *Script {
	t.Helper()
	s, err := Parse(strings.NewReader(src), name)
	if err != nil {
		t.Fatalf("Parse(%q): unexpected error:\n%v", src, err)
	}
	if got := string(s.Header) + string(s.Payload); got != src {
		t.Fatalf("Header+Payload = %q, want the input %q", got, src)
	}
	return s
}

// TestHeaderRule checks sbatch's rule: after the shebang, blank lines and
// lines whose first non-blank character is '#' are header; the first other
// line ends it.
func TestHeaderRule(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantHeader  string
		wantShebang string
	}{
		{name: "empty", in: "", wantHeader: ""},
		{name: "shebang only", in: "#!/bin/bash\n", wantHeader: "#!/bin/bash\n", wantShebang: "/bin/bash"},
		{name: "shebang then command", in: "#!/bin/bash\necho hi\n", wantHeader: "#!/bin/bash\n", wantShebang: "/bin/bash"},
		{name: "shebang with space and argument", in: "#! /bin/bash -l\necho\n", wantHeader: "#! /bin/bash -l\n", wantShebang: "/bin/bash -l"},
		{name: "sbatch, blank, indented comment, whitespace-only line",
			in:          "#!/bin/bash\n#SBATCH -N1\n\n  # note\n\t\n#ENV pip x\necho\n#ENV pip y\n",
			wantHeader:  "#!/bin/bash\n#SBATCH -N1\n\n  # note\n\t\n#ENV pip x\n",
			wantShebang: "/bin/bash"},
		{name: "no shebang, command first", in: "echo hi\n#ENV pip x\n", wantHeader: ""},
		{name: "no shebang, directive first", in: "#ENV pip x\necho\n", wantHeader: "#ENV pip x\n"},
		{name: "leading blank lines", in: "\n\n#ENV pip x\nrun\n", wantHeader: "\n\n#ENV pip x\n"},
		{name: "header to EOF without newline", in: "#!/bin/sh\n#ENV pip x", wantHeader: "#!/bin/sh\n#ENV pip x", wantShebang: "/bin/sh"},
		{name: "all blank", in: "#!/bin/sh\n   \n\n", wantHeader: "#!/bin/sh\n   \n\n", wantShebang: "/bin/sh"},
		{name: "indented command ends header", in: "#!/bin/sh\n  x=1 # c\n#ENV pip x\n", wantHeader: "#!/bin/sh\n", wantShebang: "/bin/sh"},
		{name: "second #! line is a comment", in: "#!/bin/bash\n#!/bin/sh\necho\n", wantHeader: "#!/bin/bash\n#!/bin/sh\n", wantShebang: "/bin/bash"},
		{name: "colon command ends header", in: "#!/bin/sh\n: # not a comment line\n", wantHeader: "#!/bin/sh\n", wantShebang: "/bin/sh"},
		{name: "first line comment is no shebang", in: "# job\n#ENV pip x\n", wantHeader: "# job\n#ENV pip x\n"},
		{name: "heredoc body after header is payload", in: "#!/bin/sh\ncat <<EOF\n#ENV pip x\nEOF\n", wantHeader: "#!/bin/sh\n", wantShebang: "/bin/sh"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := parseOK(t, tc.in, "job.sh")
			if string(s.Header) != tc.wantHeader {
				t.Errorf("Header = %q, want %q", s.Header, tc.wantHeader)
			}
			if s.Shebang != tc.wantShebang {
				t.Errorf("Shebang = %q, want %q", s.Shebang, tc.wantShebang)
			}
		})
	}
}

// TestParseDirectives covers the word splitting of #ENV lines: separators,
// quoting, comments, and which lines are directives at all.
func TestParseDirectives(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Directive // Pos.File is filled in
	}{
		{name: "space", in: "#!/bin/sh\n#ENV pip numpy scipy\n",
			want: []Directive{{Key: "pip", Values: []string{"numpy", "scipy"}, Pos: Pos{Line: 2}}}},
		{name: "tabs", in: "#!/bin/sh\n#ENV\tpip\tnumpy\t\tscipy\t\n",
			want: []Directive{{Key: "pip", Values: []string{"numpy", "scipy"}, Pos: Pos{Line: 2}}}},
		{name: "many spaces", in: "#!/bin/sh\n#ENV   module    a/1   b/2  \n",
			want: []Directive{{Key: "module", Values: []string{"a/1", "b/2"}, Pos: Pos{Line: 2}}}},
		{name: "single quotes keep everything", in: "#!/bin/sh\n#ENV setenv 'A=a b' 'B=$HOME' 'C=\\n'\n",
			want: []Directive{{Key: "setenv", Values: []string{"A=a b", "B=$HOME", `C=\n`}, Pos: Pos{Line: 2}}}},
		{name: "double quotes and escapes", in: "#!/bin/sh\n#ENV setenv \"A=say \\\"hi\\\"\" \"B=back\\\\slash\" C=a\\ b \"D=\\$x\"\n",
			want: []Directive{{Key: "setenv", Values: []string{`A=say "hi"`, `B=back\slash`, "C=a b", "D=$x"}, Pos: Pos{Line: 2}}}},
		{name: "mixed quotes in one word", in: "#!/bin/sh\n#ENV setenv A=it\"'\"s\n",
			want: []Directive{{Key: "setenv", Values: []string{"A=it's"}, Pos: Pos{Line: 2}}}},
		{name: "comment after values", in: "#!/bin/sh\n#ENV pip numpy # the array library\n#ENV python 3.11 #pinned\n",
			want: []Directive{
				{Key: "pip", Values: []string{"numpy"}, Pos: Pos{Line: 2}},
				{Key: "python", Values: []string{"3.11"}, Pos: Pos{Line: 3}},
			}},
		{name: "hash inside a word is no comment", in: "#!/bin/sh\n#ENV setenv TAG=a#b\n",
			want: []Directive{{Key: "setenv", Values: []string{"TAG=a#b"}, Pos: Pos{Line: 2}}}},
		{name: "repeats append in order", in: "#!/bin/sh\n#ENV module b\n#ENV module a\n",
			want: []Directive{
				{Key: "module", Values: []string{"b"}, Pos: Pos{Line: 2}},
				{Key: "module", Values: []string{"a"}, Pos: Pos{Line: 3}},
			}},
		{name: "no-index takes no value", in: "#!/bin/sh\n#ENV no-index\n",
			want: []Directive{{Key: "no-index", Values: []string{}, Pos: Pos{Line: 2}}}},
		{name: "indented is no directive", in: "#!/bin/sh\n  #ENV pip numpy\n\t#ENV pip scipy\n", want: nil},
		{name: "glued is no directive", in: "#!/bin/sh\n#ENVpip numpy\n#env pip numpy\n", want: nil},
		{name: "after the payload is no directive", in: "#!/bin/sh\necho\n#ENV pip numpy\n", want: nil},
		{name: "no shebang", in: "#ENV pip numpy\n", want: []Directive{{Key: "pip", Values: []string{"numpy"}, Pos: Pos{Line: 1}}}},
		{name: "at EOF without newline", in: "#!/bin/sh\n#ENV pip numpy", want: []Directive{{Key: "pip", Values: []string{"numpy"}, Pos: Pos{Line: 2}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := parseOK(t, tc.in, "job.sh")
			for i := range tc.want {
				tc.want[i].Pos.File = "job.sh"
			}
			if !reflect.DeepEqual(s.Directives, tc.want) {
				t.Errorf("Directives =\n%#v\nwant\n%#v", s.Directives, tc.want)
			}
		})
	}
}

func TestParseEnv(t *testing.T) {
	src := `#!/bin/bash
#SBATCH --gres=gpu:1
#ENV module cuda/12.1 gcc/12
#ENV python 3.11
#ENV pip "torch==2.3.*" numpy
#ENV requirements requirements.txt
#ENV conda -c conda-forge scipy --channel bioconda samtools --channel=pytorch pytorch=2.3
#ENV channel nvidia
#ENV file environment.yml
#ENV manager mamba
#ENV solver classic
#ENV index-url https://pypi.example.org/simple
#ENV extra-index-url https://a.example.org/simple https://b.example.org/simple
#ENV find-links /site/wheels https://example.org/wheels
#ENV no-index
#ENV use conda:base
#ENV setenv OMP_NUM_THREADS=8 'MSG=a b'
#ENV stage none
#ENV name my-env
#SBATCH --time=1:00:00
python train.py
`
	s := parseOK(t, src, "train.sh")
	want := Env{
		Modules:        []string{"cuda/12.1", "gcc/12"},
		Python:         "3.11",
		Pip:            []string{"torch==2.3.*", "numpy"},
		Requirements:   []string{"requirements.txt"},
		Conda:          []string{"scipy", "samtools", "pytorch=2.3"},
		Channels:       []string{"conda-forge", "bioconda", "pytorch", "nvidia"},
		File:           "environment.yml",
		Manager:        "mamba",
		Solver:         "classic",
		IndexURL:       "https://pypi.example.org/simple",
		ExtraIndexURLs: []string{"https://a.example.org/simple", "https://b.example.org/simple"},
		FindLinks:      []string{"/site/wheels", "https://example.org/wheels"},
		NoIndex:        true,
		Use:            "conda:base",
		SetEnv:         []string{"OMP_NUM_THREADS=8", "MSG=a b"},
		Stage:          "none",
		Name:           "my-env",
	}
	if !reflect.DeepEqual(s.Env, want) {
		t.Errorf("Env =\n%#v\nwant\n%#v", s.Env, want)
	}
	if wantSB := []string{"--gres=gpu:1", "--time=1:00:00"}; !reflect.DeepEqual(s.SBatch, wantSB) {
		t.Errorf("SBatch = %q, want %q", s.SBatch, wantSB)
	}
	if len(s.Warnings) != 0 {
		t.Errorf("Warnings = %v, want none", s.Warnings)
	}
	if s.Env.Empty() {
		t.Error("Env.Empty() = true for a full spec")
	}
	if !s.Env.NeedsEnv() {
		t.Error("Env.NeedsEnv() = false for a full spec")
	}
}

func TestEnvEmptyAndNeedsEnv(t *testing.T) {
	tests := []struct {
		line      string
		wantEmpty bool
		wantNeeds bool
	}{
		{line: "", wantEmpty: true},
		{line: "#ENV module m", wantNeeds: false},
		{line: "#ENV setenv A=1", wantNeeds: false},
		{line: "#ENV no-index", wantNeeds: false},
		{line: "#ENV stage none", wantNeeds: false},
		{line: "#ENV name x", wantNeeds: false},
		{line: "#ENV python 3.11", wantNeeds: true},
		{line: "#ENV pip x", wantNeeds: true},
		{line: "#ENV requirements r.txt", wantNeeds: true},
		{line: "#ENV conda x", wantNeeds: true},
		{line: "#ENV file environment.yml", wantNeeds: true},
		{line: "#ENV use /envs/x", wantNeeds: true},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			s := parseOK(t, "#!/bin/sh\n"+tc.line+"\n", "job.sh")
			if got := s.Env.Empty(); got != tc.wantEmpty {
				t.Errorf("Empty() = %v, want %v", got, tc.wantEmpty)
			}
			if got := s.Env.NeedsEnv(); got != tc.wantNeeds {
				t.Errorf("NeedsEnv() = %v, want %v", got, tc.wantNeeds)
			}
		})
	}
}

func TestParseWarnings(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "after payload", in: "#!/bin/sh\necho\n#ENV pip numpy\n",
			want: []string{"job.sh:3: warning: #ENV after the first command is not a directive (move it above the first command, beside the #SBATCH lines)"}},
		{name: "indented in header", in: "#!/bin/sh\n  #ENV pip numpy\n",
			want: []string{"job.sh:2: warning: #ENV is a directive only at column 0"}},
		{name: "word starting with ENV is silent", in: "#!/bin/sh\n#ENVIRONMENT notes\n", want: nil},
		{name: "indented in payload is silent", in: "#!/bin/sh\necho\n  #ENV pip numpy\n", want: nil},
		{name: "heredoc in payload", in: "#!/bin/sh\ncat <<EOF\n#ENV pip x\nEOF\n",
			want: []string{"job.sh:3: warning: #ENV after the first command is not a directive (move it above the first command, beside the #SBATCH lines)"}},
		{name: "none", in: "#!/bin/sh\n#ENV pip numpy\necho\n", want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := parseOK(t, tc.in, "job.sh")
			var got []string
			for _, w := range s.Warnings {
				got = append(got, w.String())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("warnings =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestParseErrors checks the text of every parse-time rejection; the golden
// tests in cmd/senv show the same errors as a user sees them.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     string // ErrorList.Error()
		wantHint string // hint of the first error
	}{
		{name: "unknown key near", in: "#!/bin/sh\n#ENV pyhton 3.11\n",
			want: `job.sh:2: #ENV pyhton: unknown key (did you mean "python"?)`},
		{name: "unknown key far", in: "#!/bin/sh\n#ENV frobnicate x\n",
			want:     `job.sh:2: #ENV frobnicate: unknown key`,
			wantHint: "keys: module, python, pip, requirements, conda, channel, file, extra, group, manager, solver, index-url, extra-index-url, find-links, no-index, system-site-packages, use, setenv, stage, name"},
		{name: "single key twice", in: "#!/bin/sh\n#ENV python 3.11\n#ENV python 3.12\n",
			want: `job.sh:3: #ENV python: given twice (first at line 2)`, wantHint: "keep one; a flag --python overrides the script's value"},
		{name: "missing value", in: "#!/bin/sh\n#ENV pip\n",
			want: `job.sh:2: #ENV pip: missing value`, wantHint: "write `#ENV pip REQUIREMENT...`"},
		{name: "too many values", in: "#!/bin/sh\n#ENV python 3.11 3.12\n",
			want: `job.sh:2: #ENV python: takes one value, got 2`, wantHint: "write `#ENV python VERSION|SPECIFIER`"},
		{name: "no-index with value", in: "#!/bin/sh\n#ENV no-index yes\n",
			want: `job.sh:2: #ENV no-index: takes no value`},
		{name: "module metachar", in: "#!/bin/sh\n#ENV module 'cuda;id'\n",
			want: `job.sh:2: #ENV module: "cuda;id": a module name holds only letters, digits and _ . + / @ : , = -`},
		{name: "setenv bad name", in: "#!/bin/sh\n#ENV setenv 1A=x\n",
			want: `job.sh:2: #ENV setenv: "1A=x": variable name must match [A-Za-z_][A-Za-z0-9_]*`},
		{name: "setenv without =", in: "#!/bin/sh\n#ENV setenv FOO\n",
			want: `job.sh:2: #ENV setenv: "FOO": missing =`},
		{name: "control char", in: "#!/bin/sh\n#ENV setenv 'A=x\x1by'\n",
			want: `job.sh:2: #ENV setenv: control character in "A=x\x1by"`},
		{name: "DEL", in: "#!/bin/sh\n#ENV setenv 'A=x\x7fy'\n",
			want: `job.sh:2: #ENV setenv: control character in "A=x\x7fy"`},
		{name: "NUL", in: "#!/bin/sh\n#ENV setenv 'A=x\x00y'\n",
			want: `job.sh:2: #ENV setenv: control character in "A=x\x00y"`},
		{name: "empty value", in: "#!/bin/sh\n#ENV pip ''\n",
			want: `job.sh:2: #ENV pip: empty value in ""`},
		{name: "unknown manager", in: "#!/bin/sh\n#ENV manager cond\n",
			want: `job.sh:2: #ENV manager: "cond": unknown value`, wantHint: `did you mean "conda"? (one of: venv, uv, conda, mamba, micromamba)`},
		{name: "unknown solver", in: "#!/bin/sh\n#ENV solver mamba\n",
			want: `job.sh:2: #ENV solver: "mamba": unknown value`, wantHint: "one of: libmamba, classic"},
		{name: "unknown stage", in: "#!/bin/sh\n#ENV stage locl\n",
			want: `job.sh:2: #ENV stage: "locl": unknown value`, wantHint: `did you mean "local"? (one of: local, none)`},
		{name: "bad python", in: "#!/bin/sh\n#ENV python 3.x\n",
			want: `job.sh:2: #ENV python: "3.x": not a Python version or specifier`},
		{name: "pip option", in: "#!/bin/sh\n#ENV pip --index-url=https://x numpy\n",
			want: `job.sh:2: #ENV pip: "--index-url=https://x": options are not requirements`},
		{name: "pip command substitution", in: "#!/bin/sh\n#ENV pip 'numpy$(id)'\n",
			want: `job.sh:2: #ENV pip: "numpy$(id)": not a PEP 508 requirement`},
		{name: "pip backticks", in: "#!/bin/sh\n#ENV pip 'numpy`id`'\n",
			want: "job.sh:2: #ENV pip: \"numpy`id`\": not a PEP 508 requirement"},
		{name: "conda bad option", in: "#!/bin/sh\n#ENV conda --override-channels numpy\n",
			want: `job.sh:2: #ENV conda: unknown option "--override-channels"`},
		{name: "conda -c without name", in: "#!/bin/sh\n#ENV conda numpy -c\n",
			want: `job.sh:2: #ENV conda: -c needs a channel name`},
		{name: "conda channel only", in: "#!/bin/sh\n#ENV conda -c conda-forge\n",
			want: `job.sh:2: #ENV conda: no package given`},
		{name: "unclosed quote", in: "#!/bin/sh\n#ENV pip \"numpy\n",
			want: `job.sh:2: #ENV: EOF found when expecting closing quote`},
		{name: "no key", in: "#!/bin/sh\n#ENV\n", want: `job.sh:2: #ENV without a key`},
		{name: "only a comment", in: "#!/bin/sh\n#ENV   # nothing\n", want: `job.sh:2: #ENV without a key`},
		{name: "CRLF", in: "#!/bin/sh\r\n#ENV pip numpy\r\n",
			want: `job.sh:1: DOS line breaks (\r\n): sbatch refuses this script`, wantHint: "convert it with `dos2unix job.sh`"},
		{name: "CRLF in payload", in: "#!/bin/sh\n#ENV pip numpy\necho\r\n",
			want: `job.sh:3: DOS line breaks (\r\n): sbatch refuses this script`},
		{name: "non-UTF-8 directive", in: "#!/bin/sh\n#ENV setenv A=\xff\n", want: `job.sh:2: #ENV line is not valid UTF-8`},
		{name: "every error, in order", in: "#!/bin/sh\n#ENV pyhton 3\n#ENV pip\n#ENV stage x\n",
			want: "job.sh:2: #ENV pyhton: unknown key (did you mean \"python\"?)\njob.sh:3: #ENV pip: missing value\njob.sh:4: #ENV stage: \"x\": unknown value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(strings.NewReader(tc.in), "job.sh")
			if err == nil {
				t.Fatalf("Parse: no error, want %q", tc.want)
			}
			if s != nil {
				t.Errorf("Parse returned a Script with an error")
			}
			list := AsErrorList(err)
			if list == nil {
				t.Fatalf("error %T is no ErrorList", err)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error =\n%s\nwant\n%s", got, tc.want)
			}
			if tc.wantHint != "" && list[0].Hint != tc.wantHint {
				t.Errorf("hint = %q, want %q", list[0].Hint, tc.wantHint)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	head := "#!/bin/sh\n#ENV pip numpy\n"
	body := func(n int) []byte {
		b := bytes.Repeat([]byte("echo\n"), n/5+1)
		return append([]byte(head), b...)[:n]
	}
	t.Run("exactly MaxScriptSize", func(t *testing.T) {
		in := body(MaxScriptSize)
		s, err := Parse(bytes.NewReader(in), "big.sh")
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if !bytes.Equal(append(append([]byte(nil), s.Header...), s.Payload...), in) {
			t.Error("Header+Payload differ from the input")
		}
	})
	t.Run("one byte more", func(t *testing.T) {
		_, err := Parse(bytes.NewReader(body(MaxScriptSize+1)), "big.sh")
		want := "big.sh: script is larger than 1048576 bytes"
		if err == nil || err.Error() != want {
			t.Fatalf("Parse: error %v, want %q", err, want)
		}
	})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParseReadError(t *testing.T) {
	_, err := Parse(failingReader{}, "job.sh")
	if err == nil || err.Error() != "failed to read job.sh: disk on fire" {
		t.Fatalf("Parse: error %v", err)
	}
	if AsErrorList(err) != nil {
		t.Error("an I/O error must not look like a spec error")
	}
}

func TestApplyFlags(t *testing.T) {
	flag := func(key string, vals ...string) Directive {
		return Directive{Key: key, Values: vals, Pos: Pos{Flag: key}}
	}
	script := "#!/bin/sh\n#ENV python 3.11\n#ENV pip a\n#ENV module m1\n#ENV manager venv\n#ENV setenv A=1\n"
	tests := []struct {
		name    string
		flags   []Directive
		want    func(e *Env)
		wantErr string
	}{
		{name: "no flags", flags: nil, want: func(*Env) {}},
		{name: "list keys append", flags: []Directive{flag("pip", "b", "c"), flag("module", "m2"), flag("setenv", "B=2")},
			want: func(e *Env) {
				e.Pip = []string{"a", "b", "c"}
				e.Modules = []string{"m1", "m2"}
				e.SetEnv = []string{"A=1", "B=2"}
			}},
		{name: "single keys override", flags: []Directive{flag("python", "3.12"), flag("manager", "uv")},
			want: func(e *Env) { e.Python, e.Manager = "3.12", "uv" }},
		{name: "single key new", flags: []Directive{flag("stage", "none"), flag("no-index")},
			want: func(e *Env) { e.Stage, e.NoIndex = "none", true }},
		{name: "flag twice, last wins", flags: []Directive{flag("python", "3.12"), flag("python", "3.13")},
			want: func(e *Env) { e.Python = "3.13" }},
		{name: "unknown flag key", flags: []Directive{flag("pyhton", "3.12")},
			wantErr: `flag --pyhton: unknown key (did you mean "python"?)`},
		{name: "bad flag value", flags: []Directive{flag("python", "3.x"), flag("manager", "pixi")},
			wantErr: "flag --python: \"3.x\": not a Python version or specifier\nflag --manager: \"pixi\": unknown value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := parseOK(t, script, "job.sh")
			want := s.Env
			want.Pip = append([]string(nil), want.Pip...)
			want.Modules = append([]string(nil), want.Modules...)
			want.SetEnv = append([]string(nil), want.SetEnv...)
			err := s.ApplyFlags(tc.flags)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("ApplyFlags: error %v, want %q", err, tc.wantErr)
				}
				if AsErrorList(err) == nil {
					t.Errorf("error %T is no ErrorList", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ApplyFlags: %v", err)
			}
			tc.want(&want)
			if !reflect.DeepEqual(s.Env, want) {
				t.Errorf("Env =\n%#v\nwant\n%#v", s.Env, want)
			}
			if n := len(s.Directives); n != 5+len(tc.flags) {
				t.Errorf("%d directives, want %d", n, 5+len(tc.flags))
			}
		})
	}
}

func TestFromFlags(t *testing.T) {
	s, err := FromFlags([]Directive{
		{Key: "pip", Values: []string{"numpy"}, Pos: Pos{Flag: "pip"}},
		{Key: "python", Values: []string{"3.11"}, Pos: Pos{Flag: "python"}},
	})
	if err != nil {
		t.Fatalf("FromFlags: %v", err)
	}
	if s.Name != "flags" || len(s.Header)+len(s.Payload) != 0 {
		t.Errorf("FromFlags: Name %q, body %q%q", s.Name, s.Header, s.Payload)
	}
	if want := (Env{Pip: []string{"numpy"}, Python: "3.11"}); !reflect.DeepEqual(s.Env, want) {
		t.Errorf("Env = %#v, want %#v", s.Env, want)
	}
	if _, err := FromFlags([]Directive{{Key: "module", Values: []string{"a b"}, Pos: Pos{Flag: "module"}}}); err == nil {
		t.Error("FromFlags accepted a bad module name")
	}
	if s, err := FromFlags(nil); err != nil || !s.Env.Empty() {
		t.Errorf("FromFlags(nil) = %v, %v", s, err)
	}
}

// TestApplyZeroScript checks that Apply works on a Script not made by Parse.
func TestApplyZeroScript(t *testing.T) {
	var s Script
	if e := s.Apply(Directive{Key: "python", Values: []string{"3.11"}, Pos: Pos{File: "x", Line: 1}}); e != nil {
		t.Fatalf("Apply: %v", e)
	}
	if e := s.Apply(Directive{Key: "python", Values: []string{"3.12"}, Pos: Pos{File: "x", Line: 2}}); e == nil {
		t.Fatal("Apply: a single key twice is accepted")
	}
}

func TestPosAndErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Pos: Pos{File: "a.sh", Line: 3}, Key: "pip", Msg: "m"}, "a.sh:3: #ENV pip: m"},
		{&Error{Pos: Pos{File: "a.sh", Line: 3, Col: 7}, Key: "pip", Msg: "m"}, "a.sh:3:7: #ENV pip: m"},
		{&Error{Pos: Pos{File: "a.sh"}, Msg: "m"}, "a.sh: m"},
		{&Error{Pos: Pos{Flag: "pip"}, Key: "pip", Msg: "m"}, "flag --pip: m"},
		{&Error{Pos: Pos{File: "a.sh", Line: 1}, Msg: "m"}, "a.sh:1: m"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
	w := Warning{Pos: Pos{File: "a.sh", Line: 2}, Msg: "m"}
	if got := w.String(); got != "a.sh:2: warning: m" {
		t.Errorf("Warning.String() = %q", got)
	}
}

func TestAsErrorList(t *testing.T) {
	one := &Error{Msg: "x"}
	if l := AsErrorList(one); len(l) != 1 || l[0] != one {
		t.Errorf("AsErrorList(*Error) = %v", l)
	}
	wrapped := errors.Join(errors.New("ctx"), ErrorList{one})
	if l := AsErrorList(wrapped); len(l) != 1 {
		t.Errorf("AsErrorList(wrapped) = %v", l)
	}
	if l := AsErrorList(errors.New("io")); l != nil {
		t.Errorf("AsErrorList(plain) = %v", l)
	}
}

// TestDoubleQuotedBackslash pins a documented difference from sh: #ENV
// lines are split by google/shlex (SPEC §2), which drops a backslash before
// any character inside double quotes, where sh keeps it unless the next
// character is $ ` " or \. The README tells users to put backslashes in
// single quotes, which both read the same way.
func TestDoubleQuotedBackslash(t *testing.T) {
	s := parseOK(t, "#!/bin/sh\n#ENV setenv \"RE=\\d+\" 'WIN=C:\\new'\n", "job.sh")
	want := []string{`RE=d+`, `WIN=C:\new`}
	if !reflect.DeepEqual(s.Env.SetEnv, want) {
		t.Errorf("setenv = %q, want %q", s.Env.SetEnv, want)
	}
}
