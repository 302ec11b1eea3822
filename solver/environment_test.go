package solver

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
)

func TestEnvironmentYAML(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("testdata", "envyml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file      string
		conda     []string
		channels  []string
		pip       string   // the pip section as the resolver gets it
		requested []string // ID@LINE
		variables []string
		warnings  []string
	}{
		{file: "full.yml",
			conda:     []string{"libblas=3.9.0=20_linux64_openblas", "numpy>=1.26", "pip", "python=3.11", "scipy 1.11.4 py311h64a7726_0"},
			channels:  []string{"conda-forge", "nodefaults"},
			pip:       "--extra-index-url https://download.example.org/whl\n-r " + filepath.Join(dir, "requirements-extra.txt") + "\nrich>=13\n",
			requested: []string{"tqdm@" + filepath.Join(dir, "requirements-extra.txt") + ":1", "rich@" + filepath.Join(dir, "full.yml") + ":17"},
			variables: []string{"DATA_DIR=/scratch/data", "OMP_NUM_THREADS=4"},
			warnings:  []string{"full.yml:3: warning: name: ignored", "full.yml:4: warning: prefix: ignored", `full.yml:21: warning: unknown key "x-tooling"`}},
		// -r and local paths are relative to the environment.yml
		{file: "sub/relative.yml", conda: []string{"python"},
			pip:       "-r " + filepath.Join(dir, "requirements-extra.txt") + "\n" + filepath.Join(dir, "sub", "localpkg") + "\n",
			requested: []string{"tqdm@" + filepath.Join(dir, "requirements-extra.txt") + ":1", "@" + filepath.Join(dir, "sub", "relative.yml") + ":5"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			cfg := &config.Config{Conda: "conda", Micromamba: "no-such-micromamba", Mamba: "no-such-mamba", StageDir: t.TempDir()}
			s, err := Canonicalize(&jobspec.Env{File: tc.file}, dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Conda, tc.conda) || !reflect.DeepEqual(s.Channels, tc.channels) || !reflect.DeepEqual(s.Variables, tc.variables) {
				t.Errorf("conda %q channels %q variables %q\nwant %q %q %q", s.Conda, s.Channels, s.Variables, tc.conda, tc.channels, tc.variables)
			}
			if len(s.RequirementFiles) != 1 || !strings.HasPrefix(s.RequirementFiles[0], PipSectionDir(cfg.StageDir)+"/") {
				t.Fatalf("requirement files %q, want one pip section in %s", s.RequirementFiles, PipSectionDir(cfg.StageDir))
			}
			if data, _ := os.ReadFile(s.RequirementFiles[0]); string(data) != tc.pip {
				t.Errorf("pip section:\n%s\nwant:\n%s", data, tc.pip)
			}
			var req []string
			for _, r := range s.Requested {
				id := r.ID
				if strings.Contains(id, "/") {
					id = ""
				}
				req = append(req, id+"@"+r.Pos.String())
			}
			sort.Strings(req)
			sort.Strings(tc.requested)
			if !reflect.DeepEqual(req, tc.requested) {
				t.Errorf("requested %q, want %q", req, tc.requested)
			}
			again, err := Canonicalize(&jobspec.Env{File: tc.file}, dir, cfg)
			if err != nil || again.Key() != s.Key() {
				t.Errorf("a second read of the same file: key %s, %v; want %s", again.Key(), err, s.Key())
			}
			// another user (another stage dir) has the same spec: a site
			// cache's lock of it is theirs too
			other := *cfg
			other.StageDir = filepath.Join(t.TempDir(), "another-user")
			if theirs, err := Canonicalize(&jobspec.Env{File: tc.file}, dir, &other); err != nil || theirs.Key() != s.Key() {
				t.Errorf("with another stage dir: key %s, %v; want %s", theirs.Key(), err, s.Key())
			}
			if len(s.Warnings) != len(tc.warnings) {
				t.Fatalf("warnings %v, want %d", s.Warnings, len(tc.warnings))
			}
			for i, w := range s.Warnings {
				if !strings.Contains(w.String(), "envyml/"+tc.warnings[i]) {
					t.Errorf("warning %q, want %q", w, tc.warnings[i])
				}
			}
		})
	}
}

func TestEnvironmentYAMLErrors(t *testing.T) {
	tests := []struct {
		name, yml string
		line      int
		msg       string
	}{
		{"yaml syntax", "channels: [conda-forge\ndependencies:\n  - numpy\n", 1, "not valid YAML"},
		{"not a mapping", "- numpy\n", 1, "not a mapping"},
		{"channels not a list", "channels: conda-forge\n", 1, "channels: not a list"},
		{"unknown section", "dependencies:\n  - numpy\n  - npm:\n      - left-pad\n", 3, `unknown section "npm"`},
		{"bad variable", "dependencies: [numpy]\nvariables:\n  A-B: 1\n", 3, `"A-B" is not a variable name`},
		{"variable not scalar", "dependencies: [numpy]\nvariables:\n  A: [1, 2]\n", 3, "A: the value is not one line"},
		{"pip option", "dependencies:\n  - pip:\n      - rich\n      - --user\n", 4, `pip: unknown option "--user"`},
		{"pip not a list", "dependencies:\n  - pip: rich\n", 2, "pip: not a list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "environment.yml")
			writeFile(t, path, tc.yml)
			err := (&Spec{pipSectionDir: t.TempDir()}).addEnvironmentYAML(path)
			var je *jobspec.Error
			if !errors.As(err, &je) {
				t.Fatalf("error %v (%T), want a *jobspec.Error", err, err)
			}
			if je.Pos.File != path || je.Pos.Line != tc.line || !strings.Contains(je.Msg, tc.msg) {
				t.Errorf("error at %s: %q, want line %d and %q", je.Pos, je.Msg, tc.line, tc.msg)
			}
		})
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
