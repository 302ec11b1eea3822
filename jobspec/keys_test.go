package jobspec

import (
	"fmt"
	"strings"
	"testing"
)

func TestNearest(t *testing.T) {
	keys := keyNames()
	tests := []struct {
		s          string
		candidates []string
		want       string
	}{
		{"pyhton", keys, "python"}, // swapped letters count as one typo
		{"pythn", keys, "python"},
		{"pythön", keys, "python"}, // distance counts runes, not bytes
		{"modul", keys, "module"},
		{"modules", keys, "module"},
		{"requirement", keys, "requirements"},
		{"requirments", keys, "requirements"},
		{"channels", keys, "channel"},
		{"setnev", keys, "setenv"},
		{"index_url", keys, "index-url"},
		{"extra-index-urls", keys, "extra-index-url"},
		{"findlinks", keys, "find-links"},
		{"noindex", keys, "no-index"},
		{"Python", keys, "python"},
		{"python", keys, "python"},
		{"frobnicate", keys, ""},
		{"extra-index", keys, ""}, // 4 edits from extra-index-url: too far
		{"", keys, ""},
		{"x", nil, ""},
		{"x", []string{}, ""},
		// Ties go to the alphabetically first candidate, whatever the order given.
		{"aa", []string{"ac", "ab"}, "ab"},
		{"libmamab", []string{"libmamba", "classic"}, "libmamba"},
		{"micromaba", Managers, "micromamba"},
		{"cond", Managers, "conda"},
		{"pixi", Managers, ""},
		// Up to two edits are always "near", even for a two-letter word: a
		// user who writes `#ENV uv` (meaning `#ENV manager uv`) is offered
		// "use". See the report; kept here so a change is deliberate.
		{"uv", keys, "use"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d", tc.s, len(tc.candidates)), func(t *testing.T) {
			if got := Nearest(tc.s, tc.candidates); got != tc.want {
				t.Errorf("Nearest(%q, %q) = %q, want %q", tc.s, tc.candidates, got, tc.want)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "", 3},
		{"abc", "abc", 0},
		{"abc", "acb", 1},
		{"ab", "ba", 1},
		{"kitten", "sitting", 3},
		{"ä", "a", 1},
	}
	for _, tc := range tests {
		t.Run(tc.a+"/"+tc.b, func(t *testing.T) {
			if got := editDistance(tc.a, tc.b); got != tc.want {
				t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
			if got := editDistance(tc.b, tc.a); got != tc.want {
				t.Errorf("editDistance(%q, %q) = %d, want %d (not symmetric)", tc.b, tc.a, got, tc.want)
			}
		})
	}
}

func TestFileKind(t *testing.T) {
	tests := map[string]string{
		"environment.yml":           "conda",
		"envs/environment.yaml":     "conda",
		"pyproject.toml":            "pyproject",
		"sub/pyproject.toml":        "pyproject",
		"requirements.txt":          "requirements",
		"reqs/dev.txt":              "requirements",
		"pixi.lock":                 "lock",
		"locks/conda-linux-64.lock": "lock",
		"conda-lock.yml":            "conda",
		"poetry.lock":               "",
		"other.toml":                "",
		"env.json":                  "",
		"requirements":              "",
		"environment.yml/readme.x":  "",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if got := FileKind(in); got != want {
				t.Errorf("FileKind(%q) = %q, want %q", in, got, want)
			}
		})
	}
}

// TestKeysTable checks the table itself: every key is reachable, stores
// something, and has the metadata the flags and the README are made from.
func TestKeysTable(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys {
		if seen[k.Name] {
			t.Errorf("key %q listed twice", k.Name)
		}
		seen[k.Name] = true
		if LookupKey(k.Name) != k {
			t.Errorf("LookupKey(%q) does not return the key", k.Name)
		}
		if k.store == nil || k.Help == "" {
			t.Errorf("key %q: missing store or Help", k.Name)
		}
		if k.Max != 0 && k.Usage == "" {
			t.Errorf("key %q takes values but has no Usage", k.Name)
		}
		if k.Max > 0 && k.Max < k.Min {
			t.Errorf("key %q: Max %d < Min %d", k.Name, k.Max, k.Min)
		}
		if k.Single != (k.Max == 0 || k.Max == 1) {
			t.Errorf("key %q: Single=%v but Max=%d", k.Name, k.Single, k.Max)
		}
	}
	if LookupKey("nope") != nil {
		t.Error("LookupKey(nope) != nil")
	}
	// SPEC §2 lists these keys; extra and group came with pyproject support.
	want := "module python pip requirements conda channel file extra group manager solver index-url extra-index-url find-links no-index system-site-packages use setenv stage name"
	if got := strings.Join(keyNames(), " "); got != want {
		t.Errorf("keys = %s\nwant   %s", got, want)
	}
}

// TestValidateValues gives each key values it must accept and values it must
// refuse. Every key in Keys must appear here.
func TestValidateValues(t *testing.T) {
	tests := []struct {
		key  string
		good [][]string
		bad  map[string][]string // error message → values
	}{
		{key: "module",
			good: [][]string{{"cuda/12.1"}, {"gcc/12.2.0", "openmpi/4.1.5-gcc"}, {"py-torch/2.3+cuda"}, {"intel@2024:mpi,x=1"}, {"_hidden"}},
			bad: map[string][]string{
				"missing value": {},
				`"a b": a module name holds only letters, digits and _ . + / @ : , = -`:         {"a b"},
				`"cuda;id": a module name holds only letters, digits and _ . + / @ : , = -`:     {"cuda;id"},
				`"$(id)": a module name holds only letters, digits and _ . + / @ : , = -`:       {"$(id)"},
				"\"`id`\": a module name holds only letters, digits and _ . + / @ : , = -":      {"`id`"},
				`"-x": a module name holds only letters, digits and _ . + / @ : , = -`:          {"-x"},
				`"cuda|x": a module name holds only letters, digits and _ . + / @ : , = -`:      {"cuda|x"},
				`"cuda*": a module name holds only letters, digits and _ . + / @ : , = -`:       {"cuda*"},
				`"cuda>/tmp/x": a module name holds only letters, digits and _ . + / @ : , = -`: {"cuda>/tmp/x"},
			}},
		{key: "python",
			good: [][]string{{"3"}, {"3.11"}, {"3.11.4"}, {">=3.11"}, {">=3.9,<3.12"}, {"~=3.10"}, {"==3.11.*"}},
			bad: map[string][]string{
				`"3.x": not a Python version or specifier`:        {"3.x"},
				`"python3.11": not a Python version or specifier`: {"python3.11"},
				`">=3.x": not a Python version or specifier`:      {">=3.x"},
				`"3.11.4.1": not a Python version or specifier`:   {"3.11.4.1"},
				"takes one value, got 2":                          {"3.11", "3.12"},
			}},
		{key: "pip",
			good: [][]string{{"numpy"}, {"torch==2.3.*"}, {"pkg[extra]>=1.0"}, {"pandas; python_version >= '3.10'"}, {"a", "b", "c"},
				{"zeta @ git+https://host/repo@v1"}, {"pkg[a,b] (>=1,<2)"}, {"x; os_name == 'posix' and (python_version < '3.12' or extra == 'gpu')"}},
			bad: map[string][]string{
				`"-e": options are not requirements`:          {"-e", "."},
				`"--pre": options are not requirements`:       {"--pre"},
				`"$(id)": not a PEP 508 requirement`:          {"$(id)"},
				`"numpy$HOME": not a PEP 508 requirement`:     {"numpy$HOME"},
				"\"numpy`id`\": not a PEP 508 requirement":    {"numpy`id`"},
				`">=1.0": not a PEP 508 requirement`:          {">=1.0"},
				`"alpha;touch /tmp/x": marker has "touch"`:    {"alpha;touch /tmp/x"},
				`"alpha==1.0--hash=sha256:aa": unexpected`:    {"alpha==1.0--hash=sha256:aa"},
				`empty value in ""`:                           {""},
				`control character in "numpy\n"`:              {"numpy\n"},
				`invalid UTF-8 in "numpy\xff"`:                {"numpy\xff"},
				`control character in "nu\x01mpy"`:            {"nu\x01mpy"},
				`"./numpy": not a PEP 508 requirement`:        {"./numpy"},
				`"_private": not a PEP 508 requirement`:       {"_private"},
				`".hidden": not a PEP 508 requirement`:        {".hidden"},
				`"numpy ; $x": not a PEP 508 requirement`:     {"numpy ; $x"},
				`control character in "numpy\x7f"`:            {"numpy\x7f"},
				`"--index-url": options are not requirements`: {"--index-url", "https://x"},
			}},
		{key: "requirements",
			good: [][]string{{"requirements.txt"}, {"a.txt", "sub/b.txt"}, {"/abs/r.txt"}},
			bad:  map[string][]string{`"-r": a file name may not start with -`: {"-r", "x.txt"}},
		},
		{key: "conda",
			good: [][]string{{"numpy"}, {"pytorch=2.3"}, {"numpy>=1.26"}, {"conda-forge::scipy"}, {"-c", "conda-forge", "numpy"},
				{"--channel", "bioconda", "samtools"}, {"--channel=pytorch", "pytorch"}, {"python 3.11.*"}},
			bad: map[string][]string{
				`unknown option "--override-channels"`: {"--override-channels", "numpy"},
				`-c needs a channel name`:              {"numpy", "-c"},
				`--channel needs a channel name`:       {"numpy", "--channel"},
				`no package given`:                     {"-c", "conda-forge"},
				`"$(id)": not a conda match spec`:      {"$(id)"},
				`"a;b": not a conda match spec`:        {"a;b"},
				`"a b": not a channel`:                 {"-c", "a b", "numpy"},
				`"": not a channel`:                    {"--channel=", "numpy"},
			}},
		{key: "channel",
			good: [][]string{{"conda-forge"}, {"https://conda.example.org/main"}, {"file:///site/channel"}, {"a", "b"}},
			bad: map[string][]string{
				`"conda forge": a channel is a name or a URL without spaces or shell characters`: {"conda forge"},
				`"x;y": a channel is a name or a URL without spaces or shell characters`:         {"x;y"},
			}},
		{key: "extra", good: [][]string{{"gpu"}, {"dev", "test_all"}},
			bad: map[string][]string{`"a b": an extra name holds only`: {"a b"}, `"-x": an extra name holds only`: {"-x"}}},
		{key: "group", good: [][]string{{"test"}, {"docs", "lint"}},
			bad: map[string][]string{`"$x": a group name holds only`: {"$x"}}},
		{key: "file",
			good: [][]string{{"environment.yml"}, {"environment.yaml"}, {"requirements.txt"}, {"pyproject.toml"}, {"sub/dev.txt"},
				{"pylock.toml"}, {"locks/pylock.gpu.toml"}},
			bad: map[string][]string{
				`"pylock.a.b.toml": unknown kind of environment file`: {"pylock.a.b.toml"},
				`"env.json": unknown kind of environment file`:        {"env.json"},
				`"-x.txt": a file name may not start with -`:          {"-x.txt"},
				"takes one value, got 2":                              {"a.txt", "b.txt"},
				`"setup.cfg": unknown kind of environment file`:       {"setup.cfg"},
				`"Pipfile": unknown kind of environment file`:         {"Pipfile"},
				`"poetry.lock": unknown kind of environment file`:     {"poetry.lock"},
			}},
		{key: "manager",
			good: [][]string{{"venv"}, {"uv"}, {"conda"}, {"mamba"}, {"micromamba"}},
			bad:  map[string][]string{`"pixi": unknown value`: {"pixi"}, `"Conda": unknown value`: {"Conda"}},
		},
		{key: "solver",
			good: [][]string{{"libmamba"}, {"classic"}},
			bad:  map[string][]string{`"mamba": unknown value`: {"mamba"}},
		},
		{key: "index-url",
			good: [][]string{{"https://pypi.org/simple"}, {"http://localhost:8080/simple"}},
			bad: map[string][]string{
				`"--trusted-host": a source may not start with -`: {"--trusted-host"},
				`"https://a b": a source holds no spaces`:         {"https://a b"},
				"takes one value, got 2":                          {"https://a", "https://b"},
			}},
		{key: "extra-index-url",
			good: [][]string{{"https://a.example.org/simple", "https://b.example.org/simple"}},
			bad:  map[string][]string{`"-i": a source may not start with -`: {"-i"}},
		},
		{key: "find-links",
			good: [][]string{{"/site/wheels"}, {"wheels"}, {"https://example.org/wheels"}, {"file:///site/wheels"}},
			bad:  map[string][]string{"\"a\\tb\": a source holds no spaces": {"a\tb"}},
		},
		{key: "no-index",
			good: [][]string{{}},
			bad:  map[string][]string{"takes no value": {"yes"}},
		},
		{key: "system-site-packages",
			good: [][]string{{}},
			bad:  map[string][]string{"takes no value": {"true"}},
		},
		{key: "use",
			good: [][]string{{"/envs/x"}, {"envs/x"}, {"conda:base"}, {"conda:my-env.1"}},
			bad: map[string][]string{
				`"conda:": not a conda environment name`:     {"conda:"},
				`"conda:a b": not a conda environment name`:  {"conda:a b"},
				`"conda:../x": not a conda environment name`: {"conda:../x"},
				`"-x": a file name may not start with -`:     {"-x"},
				"takes one value, got 2":                     {"a", "b"},
			}},
		{key: "setenv",
			good: [][]string{{"A=1"}, {"_x=", "B2=a b", "C=$(id)`x`'\";*"}, {"PATH=/x:$PATH"}, {"A==b"}, {"A=\tb"}},
			bad: map[string][]string{
				`"A=` + strings.Repeat("x", 58) + `"...: 131074 bytes: the kernel refuses`: {"A=" + strings.Repeat("x", 32*4096)},
				`"FOO": missing =`: {"FOO"},
				`"1A=x": variable name must match [A-Za-z_][A-Za-z0-9_]*`:     {"1A=x"},
				`"MY-VAR=x": variable name must match [A-Za-z_][A-Za-z0-9_]*`: {"MY-VAR=x"},
				`"=x": variable name must match [A-Za-z_][A-Za-z0-9_]*`:       {"=x"},
				`"A B=x": variable name must match [A-Za-z_][A-Za-z0-9_]*`:    {"A B=x"},
				`control character in "A=x\ny"`:                               {"A=x\ny"},
			}},
		{key: "stage",
			good: [][]string{{"local"}, {"none"}},
			bad:  map[string][]string{`"node": unknown value`: {"node"}},
		},
		{key: "name",
			good: [][]string{{"torch-cuda"}, {"v1.2_x"}},
			bad: map[string][]string{
				`"my env": a name holds only letters, digits and _ . -`: {"my env"},
				`"-x": a name holds only letters, digits and _ . -`:     {"-x"},
			}},
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.key] = true
		k := LookupKey(tc.key)
		if k == nil {
			t.Fatalf("no key %q", tc.key)
		}
		for _, vals := range tc.good {
			t.Run(tc.key+"/good/"+strings.Join(vals, " "), func(t *testing.T) {
				if e := k.validate(Pos{File: "x", Line: 1}, vals); e != nil {
					t.Errorf("validate(%q) = %v, want nil", vals, e)
				}
			})
		}
		for msg, vals := range tc.bad {
			t.Run(tc.key+"/bad/"+msg, func(t *testing.T) {
				e := k.validate(Pos{File: "x", Line: 1}, vals)
				if e == nil {
					t.Fatalf("validate(%q) = nil, want %q", vals, msg)
				}
				if !strings.HasPrefix(e.Msg, msg) || e.Key != tc.key {
					t.Errorf("validate(%q) = key %q msg %q, want key %q msg %q", vals, e.Key, e.Msg, tc.key, msg)
				}
			})
		}
	}
	for _, k := range Keys {
		if !covered[k.Name] {
			t.Errorf("key %q has no validation cases", k.Name)
		}
	}
}
