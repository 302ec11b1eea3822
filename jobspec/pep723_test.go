package jobspec

import (
	"reflect"
	"strings"
	"testing"
)

// pep723 returns a Python script with a PEP 723 block holding lines.
func pep723(shebang string, lines ...string) string {
	var b strings.Builder
	if shebang != "" {
		b.WriteString("#!" + shebang + "\n")
	}
	b.WriteString("# /// script\n")
	for _, l := range lines {
		if l == "" {
			b.WriteString("#\n")
		} else {
			b.WriteString("# " + l + "\n")
		}
	}
	b.WriteString("# ///\nimport sys\n")
	return b.String()
}

func TestPEP723(t *testing.T) {
	tests := []struct {
		name       string
		file       string
		in         string
		wantPython string
		wantPip    []string
		wantErr    string
	}{
		{name: "lower bound", file: "job.py", in: pep723("/usr/bin/env python3", `requires-python = ">=3.11"`),
			wantPython: ">=3.11"},
		{name: "lower bound with spaces", file: "job.py", in: pep723("", `requires-python = ">= 3.11"`), wantPython: ">= 3.11"},
		{name: "patch level kept", file: "job.py", in: pep723("", `requires-python = ">=3.11.4"`), wantPython: ">=3.11.4"},
		{name: "wildcard", file: "job.py", in: pep723("", `requires-python = "==3.12.*"`), wantPython: "==3.12.*"},
		{name: "compatible", file: "job.py", in: pep723("", `requires-python = "~=3.10"`), wantPython: "~=3.10"},
		{name: "range", file: "job.py", in: pep723("", `requires-python = ">=3.10,<3.13"`), wantPython: ">=3.10,<3.13"},
		{name: "the block ends at the last # /// (a # /// inside a TOML string)", file: "job.py",
			in:      pep723("", `dependencies = [`, `  "rich",`, `]`, `description = """`, `///`, `"""`),
			wantPip: []string{"rich"}},
		{name: "nesting bomb", file: "job.py", in: pep723("", "x = "+strings.Repeat("{a=", 100)+"1"+strings.Repeat("}", 100)),
			wantErr: "job.py:1: PEP 723 script metadata: line 1: arrays and tables nested more than 32 deep"},
		{name: "two script blocks", file: "job.py", in: pep723("", `dependencies = ["a"]`) + "# /// script\n# dependencies = [\"b\"]\n# ///\n",
			wantErr: "job.py:5: a second `# /// script` block"},
		{name: "dependencies", file: "job.py",
			in:         pep723("/usr/bin/env python3", `requires-python = ">=3.11"`, `dependencies = [`, `  "numpy>=1.26",`, `  "requests[socks]",`, `  "pandas; python_version >= '3.10'",`, `]`),
			wantPython: ">=3.11", wantPip: []string{"numpy>=1.26", "requests[socks]", "pandas; python_version >= '3.10'"}},
		{name: "empty comment lines and other tables", file: "job.py",
			in:      pep723("", `dependencies = ["rich"]`, "", `[tool.senv]`, `x = 1`),
			wantPip: []string{"rich"}},
		{name: "python shebang, no .py name", file: "job", in: pep723("/usr/bin/python3", `dependencies = ["rich"]`),
			wantPip: []string{"rich"}},
		{name: "shell script ignores the block", file: "job.sh", in: pep723("/bin/bash", `dependencies = ["rich"]`)},
		{name: "no block", file: "job.py", in: "#!/usr/bin/env python3\nimport sys\n"},
		{name: "other block type", file: "job.py", in: "# /// pyproject\n# dependencies = [\"rich\"]\n# ///\n"},
		{name: "block after code", file: "job.py",
			in:      "#!/usr/bin/env python3\n\"\"\"Doc.\"\"\"\n# /// script\n# dependencies = [\"rich\"]\n# ///\n",
			wantPip: []string{"rich"}},
		{name: "#ENV python wins over requires-python", file: "job.py",
			in:         "#!/usr/bin/env python3\n#ENV python 3.12\n#ENV pip numpy\n# /// script\n# requires-python = \">=3.11\"\n# dependencies = [\"rich\"]\n# ///\n",
			wantPython: "3.12", wantPip: []string{"numpy", "rich"}},
		{name: "upper bound only", file: "job.py", in: pep723("", `requires-python = "<3.13"`), wantPython: "<3.13"},
		{name: "major only", file: "job.py", in: pep723("", `requires-python = ">=3"`), wantPython: ">=3"},
		{name: "not a specifier", file: "job.py", in: pep723("", `requires-python = "3.x"`),
			wantErr: `job.py:1: #ENV python: requires-python "3.x": "3.x" is not a Python version or version specifier`},
		{name: "bad TOML", file: "job.py", in: pep723("/usr/bin/env python3", `dependencies = [`),
			wantErr: `job.py:2: PEP 723 script metadata: toml: line 1 (last key "dependencies"): unexpected EOF; expected value`},
		{name: "option as dependency", file: "job.py", in: pep723("", `dependencies = ["-e ."]`),
			wantErr: `job.py:1: #ENV pip: "-e .": options are not requirements`},
		{name: "substitution as dependency", file: "job.py", in: pep723("", `dependencies = ["numpy$(id)"]`),
			wantErr: `job.py:1: #ENV pip: "numpy$(id)": not a PEP 508 requirement`},
		{name: "wrong type", file: "job.py", in: pep723("", `dependencies = "numpy"`),
			wantErr: `job.py:1: PEP 723 script metadata: toml: line 1 (last key "dependencies"): incompatible types: TOML value has type string; destination has type slice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(strings.NewReader(tc.in), tc.file)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Parse: error\n%v\nwant\n%s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if s.Env.Python != tc.wantPython {
				t.Errorf("python = %q, want %q", s.Env.Python, tc.wantPython)
			}
			if !reflect.DeepEqual(s.Env.Pip, tc.wantPip) {
				t.Errorf("pip = %q, want %q", s.Env.Pip, tc.wantPip)
			}
		})
	}
}

// TestPEP723LowerBoundNotFirst: requires-python is a comma-separated list
// of clauses in any order; it becomes the python key as it is.
func TestPEP723LowerBoundNotFirst(t *testing.T) {
	for _, spec := range []string{"<3.13,>=3.10", "!=3.11.0, >=3.10", "<4, ~=3.10"} {
		t.Run(spec, func(t *testing.T) {
			s, err := Parse(strings.NewReader(pep723("", `requires-python = "`+spec+`"`)), "job.py")
			if err != nil {
				t.Fatalf("Parse(requires-python %q): %v", spec, err)
			}
			if s.Env.Python != spec {
				t.Errorf("python = %q, want %q", s.Env.Python, spec)
			}
		})
	}
}
