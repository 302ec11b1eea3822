package envs_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/envs"
	"github.com/senv-hpc/senv/internal/condatools"
	"github.com/senv-hpc/senv/internal/wheelhouse"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/solver"
)

// channelRecord is one package of the test channel's repodata.
type channelRecord struct {
	url, md5, sha256 string
	deps             []string
}

func channelRecords(t *testing.T, dir, channel string) map[string]channelRecord {
	t.Helper()
	recs := map[string]channelRecord{}
	for _, subdir := range []string{"linux-64", "noarch"} {
		data, err := os.ReadFile(filepath.Join(dir, subdir, "repodata.json"))
		if err != nil {
			t.Fatal(err)
		}
		type record struct {
			Name    string   `json:"name"`
			MD5     string   `json:"md5"`
			SHA256  string   `json:"sha256"`
			Depends []string `json:"depends"`
		}
		var rd struct {
			Packages      map[string]record `json:"packages"`
			PackagesConda map[string]record `json:"packages.conda"`
		}
		if err := json.Unmarshal(data, &rd); err != nil {
			t.Fatal(err)
		}
		for _, m := range []map[string]record{rd.Packages, rd.PackagesConda} {
			for fn, r := range m {
				if r.Name == "libdemo" && !strings.Contains(fn, "1.1") {
					continue
				}
				recs[r.Name] = channelRecord{url: channel + "/" + subdir + "/" + fn, md5: r.MD5, sha256: r.SHA256, deps: r.Depends}
			}
		}
	}
	return recs
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestCondaLockFiles installs the locks users already have, with a real
// manager and without a solve: an explicit list, a conda-lock.yml and a
// pixi.lock (version 6), each naming the test channel's packages out of
// dependency order (a noarch package before python), the lock files also
// listing pip packages from a local wheelhouse and another platform's
// packages that must be left out. The files are written here in each
// tool's documented format (no conda-lock or pixi runs here). Every manager
// installs them: micromamba 1.5 fails, and conda leaves out the entry
// point, when a noarch package comes before python.
func TestCondaLockFiles(t *testing.T) {
	channel := condatools.Channel(t)
	tools := condatools.Available(t)
	recs := channelRecords(t, condatools.ChannelDir(t), channel)
	wh, err := wheelhouse.BuildAll(t.TempDir(), wheelhouse.Standard)
	if err != nil {
		t.Fatal(err)
	}
	alpha, beta := filepath.Join(wh, "alpha-1.0-py3-none-any.whl"), filepath.Join(wh, "beta-1.2-py3-none-any.whl")
	order := []string{"demo-noarch", "hello-prefix", "libdemo", "python"}
	sub := solver.CondaSubdir()

	var explicit strings.Builder
	explicit.WriteString("# This file may be used to create an environment using:\n# $ conda create --name <env> --file <this file>\n# platform: " + sub + "\n@EXPLICIT\n")
	for _, n := range []string{"python", "libdemo", "hello-prefix", "demo-noarch"} { // install order, as conda writes it
		explicit.WriteString(recs[n].url + "#" + recs[n].md5 + "\n")
	}

	var cl strings.Builder
	cl.WriteString("version: 1\nmetadata:\n  content_hash:\n    " + sub + ": 0\n    osx-arm64: 0\n  channels:\n  - url: " + channel + "\n    used_env_vars: []\n  platforms:\n  - " + sub + "\n  - osx-arm64\n  sources:\n  - environment.yml\npackage:\n")
	for _, n := range order {
		r := recs[n]
		fmt.Fprintf(&cl, "- name: %s\n  version: '1'\n  manager: conda\n  platform: %s\n  dependencies:\n", n, sub)
		for _, d := range r.deps {
			f := strings.Fields(d)
			fmt.Fprintf(&cl, "    %s: '%s'\n", f[0], strings.Join(f[1:], " "))
		}
		fmt.Fprintf(&cl, "  url: %s\n  hash:\n    md5: %s\n    sha256: %s\n  category: main\n  optional: false\n", r.url, r.md5, r.sha256)
	}
	fmt.Fprintf(&cl, "- name: osx-only\n  version: '1'\n  manager: conda\n  platform: osx-arm64\n  dependencies: {}\n  url: https://conda.anaconda.org/conda-forge/osx-arm64/osx-only-1-0.conda\n  hash:\n    md5: 00000000000000000000000000000000\n  category: main\n  optional: false\n")
	for _, w := range []struct{ name, version, path string }{{"alpha", "1.0", alpha}, {"beta", "1.2", beta}} {
		fmt.Fprintf(&cl, "- name: %s\n  version: %s\n  manager: pip\n  platform: %s\n  dependencies: {}\n  url: file://%s\n  hash:\n    sha256: %s\n  category: main\n  optional: false\n", w.name, w.version, sub, w.path, fileSHA256(t, w.path))
	}

	var px strings.Builder
	px.WriteString("version: 6\nenvironments:\n  default:\n    channels:\n    - url: " + channel + "/\n    packages:\n      " + sub + ":\n")
	for _, n := range order {
		px.WriteString("      - conda: " + recs[n].url + "\n")
	}
	px.WriteString("      - pypi: file://" + alpha + "\n      - pypi: file://" + beta + "\n      osx-arm64:\n      - conda: https://conda.anaconda.org/conda-forge/osx-arm64/osx-only-1-0.conda\npackages:\n")
	for _, n := range order {
		r := recs[n]
		fmt.Fprintf(&px, "- conda: %s\n  sha256: %s\n  md5: %s\n  depends:\n", r.url, r.sha256, r.md5)
		for _, d := range r.deps {
			fmt.Fprintf(&px, "  - %s\n", d)
		}
		px.WriteString("  license: BSD-3-Clause\n")
	}
	fmt.Fprintf(&px, "- pypi: file://%s\n  name: alpha\n  version: 1.0\n  sha256: %s\n  requires_dist:\n  - beta>=1\n", alpha, fileSHA256(t, alpha))
	fmt.Fprintf(&px, "- pypi: file://%s\n  name: beta\n  version: 1.2\n  sha256: %s\n", beta, fileSHA256(t, beta))

	tests := []struct {
		file, text string
		pip        bool
	}{
		{"spec-file.txt", explicit.String(), false},
		{"conda-lock.yml", cl.String(), true},
		{"pixi.lock", px.String(), true},
	}
	for _, tool := range tools {
		if tool.Solver == "classic" {
			continue // no solve: the same binary as conda-libmamba
		}
		for _, tc := range tests {
			testLockFile(t, tool, tc.file, tc.text, tc.pip)
		}
	}
}

func testLockFile(t *testing.T, tool condatools.Tool, file, text string, pip bool) {
	t.Run(tool.Name+"/"+file, func(t *testing.T) {
		condaHome(t)
		cfg := condaConfig(t, tool)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, file), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		spec, err := solver.Canonicalize(&jobspec.Env{File: file}, dir, cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, job, prefix, outcome := buildSpec(t, cfg, spec)
		if outcome != envs.Built {
			t.Fatalf("ensure: %s", outcome)
		}
		if strings.Contains(job.Lock.Explicit, "osx-only") || job.Lock.PackageCount() < 4 {
			t.Errorf("lock:\n%s", job.Lock.Explicit)
		}
		checkCondaEnv(t, prefix, nil)
		if pip {
			if got := output(t, filepath.Join(prefix, "bin", "python"), "-c", "import alpha, beta; print(alpha.__file__, beta.__version__)"); got != prefix+"/lib/python3.11/site-packages/alpha/__init__.py 1.2" {
				t.Errorf("pip part: import printed %q", got)
			}
		}
	})
}
