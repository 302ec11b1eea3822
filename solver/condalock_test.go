package solver

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
)

const (
	cfURL      = "https://conda.anaconda.org/conda-forge/"
	pyURL      = cfURL + "linux-64/python-3.11.9-hb806964_0_cpython.conda"
	noarchURL  = cfURL + "noarch/six-1.16.0-pyh6c4a22f_0.tar.bz2"
	md5A, md5B = "7c8d3e2e3ffb3e4a4b1b2c1f0b7c2b11", "e5f7b2d1c6a0f9e8d7c6b5a4f3e2d1c0"
)

func TestLockFilesRead(t *testing.T) {
	if CondaSubdir() != "linux-64" {
		t.Skip("the fixtures are linux-64 locks")
	}
	tests := []struct {
		name, file, text string
		explicit         string // want, when no error
		locked           int
		line             int // want an error at this line (-1: none)
		msg              string
	}{
		{name: "explicit list keeps its order", file: "spec-file.txt", line: -1,
			text:     "# platform: linux-64\n@EXPLICIT\n" + noarchURL + "#" + md5B + "\n" + pyURL + "#" + md5A + "\n",
			explicit: "@EXPLICIT\n" + noarchURL + "#" + md5B + "\n" + pyURL + "#" + md5A + "\n"},
		{name: "explicit list of another platform", file: "spec-file.txt", line: 1, msg: "an explicit list for osx-arm64",
			text: "# platform: osx-arm64\n@EXPLICIT\n" + pyURL + "\n"},
		{name: "explicit list with a bad line", file: "conda-linux-64.lock", line: 3, msg: `"numpy=1.26" is not a package URL`,
			text: "@EXPLICIT\n" + pyURL + "\nnumpy=1.26\n"},
		{name: "pixi: dependency order, other platforms left out", file: "pixi.lock", line: -1, locked: 1,
			text: "version: 6\nenvironments:\n  default:\n    packages:\n      linux-64:\n      - conda: " + noarchURL + "\n      - conda: " + pyURL +
				"\n      - pypi: https://files.pythonhosted.org/packages/x/rich-13.7.1-py3-none-any.whl\n      osx-arm64:\n      - conda: " + cfURL + "osx-arm64/python-3.11.9-h932a869_0_cpython.conda\n" +
				"packages:\n- conda: " + noarchURL + "\n  md5: " + md5B + "\n  depends:\n  - python >=3.8\n- conda: " + pyURL + "\n  md5: " + md5A +
				"\n- pypi: https://files.pythonhosted.org/packages/x/rich-13.7.1-py3-none-any.whl\n  name: rich\n  version: 13.7.1\n  sha256: " + strings.Repeat("ab", 32) +
				"\n- conda: " + cfURL + "osx-arm64/python-3.11.9-h932a869_0_cpython.conda\n  md5: " + md5A + "\n",
			explicit: "@EXPLICIT\n" + pyURL + "#" + md5A + "\n" + noarchURL + "#" + md5B + "\n"},
		{name: "pixi: another platform only", file: "pixi.lock", line: 0, msg: "no conda packages for linux-64 (the lock has osx-arm64)",
			text: "version: 6\nenvironments:\n  default:\n    packages:\n      osx-arm64:\n      - conda: " + cfURL + "osx-arm64/x-1-0.conda\npackages:\n- conda: " + cfURL + "osx-arm64/x-1-0.conda\n"},
		{name: "pixi: newer version", file: "pixi.lock", line: 1, msg: "pixi.lock version 7",
			text: "version: 7\nenvironments: {}\npackages: []\n"},
		{name: "pixi: undefined package", file: "pixi.lock", line: 0, msg: "which packages: does not define",
			text: "version: 6\nenvironments:\n  default:\n    packages:\n      linux-64:\n      - conda: " + pyURL + "\npackages: []\n"},
		{name: "pixi: not a pixi lock", file: "pixi.lock", line: 1, msg: "neither a pixi.lock nor an explicit list",
			text: "version = 1\n"},
		{name: "conda-lock: main packages of this platform", file: "conda-lock.yml", line: -1,
			text: "version: 1\nmetadata:\n  platforms: [linux-64, osx-arm64]\npackage:\n" +
				"- name: six\n  version: 1.16.0\n  manager: conda\n  platform: linux-64\n  dependencies:\n    python: '>=3.8'\n  url: " + noarchURL + "\n  hash:\n    md5: " + md5B + "\n  category: main\n  optional: false\n" +
				"- name: python\n  version: 3.11.9\n  manager: conda\n  platform: linux-64\n  dependencies: {}\n  url: " + pyURL + "\n  hash:\n    md5: " + md5A + "\n  category: main\n  optional: false\n" +
				"- name: pytest\n  version: '8'\n  manager: conda\n  platform: linux-64\n  dependencies: {}\n  url: " + cfURL + "noarch/pytest-8-0.conda\n  hash:\n    md5: " + md5A + "\n  category: dev\n  optional: true\n",
			explicit: "@EXPLICIT\n" + pyURL + "#" + md5A + "\n" + noarchURL + "#" + md5B + "\n"},
		{name: "conda-lock: another platform only", file: "conda-lock.yml", line: 0, msg: "no conda packages for linux-64 (the lock has osx-arm64)",
			text: "version: 1\nmetadata:\n  platforms: [osx-arm64]\npackage:\n- name: python\n  version: 3.11.9\n  manager: conda\n  platform: osx-arm64\n  url: " + cfURL + "osx-arm64/python-3.11.9-h932a869_0_cpython.conda\n  hash:\n    md5: " + md5A + "\n"},
		{name: "conda-lock: bad url", file: "conda-lock.yml", line: 5, msg: "not a conda package URL",
			text: "version: 1\nmetadata:\n  platforms: [linux-64]\npackage:\n- name: python\n  version: 3.11.9\n  manager: conda\n  platform: linux-64\n  url: python-3.11.9.conda\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, tc.file), tc.text)
			s := &Spec{}
			err := s.addEnvFile(filepath.Join(dir, tc.file), &jobspec.Env{})
			if tc.line < 0 {
				if err != nil {
					t.Fatal(err)
				}
				if s.Explicit != tc.explicit || len(s.Locked) != tc.locked {
					t.Errorf("explicit:\n%s\nlocked %v\nwant:\n%s\nand %d locked", s.Explicit, s.Locked, tc.explicit, tc.locked)
				}
				return
			}
			var je *jobspec.Error
			if !errors.As(err, &je) || je.Pos.Line != tc.line || !strings.Contains(je.Msg, tc.msg) || je.Hint == "" {
				t.Errorf("error %v, want one at line %d with %q and a hint", err, tc.line, tc.msg)
			}
		})
	}
}

func TestLockFileIsTheWholeEnv(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "spec-file.txt"), "@EXPLICIT\n"+pyURL+"#"+md5A+"\n")
	for _, env := range []*jobspec.Env{{File: "spec-file.txt", Pip: []string{"rich"}}, {File: "spec-file.txt", Conda: []string{"numpy"}}} {
		_, err := Canonicalize(env, dir, &config.Config{Micromamba: "micromamba"})
		var je *jobspec.Error
		if !errors.As(err, &je) || je.Key != "file" || !strings.Contains(je.Msg, "a conda lock file is the whole environment") {
			t.Errorf("%+v: error %v", env, err)
		}
	}
	if _, err := Canonicalize(&jobspec.Env{File: "spec-file.txt"}, dir, &config.Config{Micromamba: "micromamba"}); err != nil {
		t.Errorf("the lock alone: %v", err)
	}
}
