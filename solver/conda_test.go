package solver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/internal/condatools"
)

// The files under testdata/conda are outputs of real conda, mamba and
// micromamba runs, each with a .source file that says where it was recorded.

func condaTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "conda", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRecordedCondaDryRun(t *testing.T) {
	tests := []struct {
		file     string
		explicit string // the @EXPLICIT list, when every package is complete
		missing  string // else: the package without URL and MD5
	}{
		{file: "micromamba-1.5.12-create-dry-run.json", explicit: "@EXPLICIT\n" +
			"https://conda.anaconda.org/conda-forge/linux-64/libzlib-1.3.2-h25fd6f3_2.conda#d87ff7921124eccd67248aa483c23fec\n"},
		{file: "mamba-2.6.0-create-dry-run.json", explicit: "@EXPLICIT\n" +
			"https://conda.anaconda.org/conda-forge/linux-64/libzlib-1.3.2-h25fd6f3_2.conda#d87ff7921124eccd67248aa483c23fec\n" +
			"https://conda.anaconda.org/conda-forge/linux-64/zlib-1.3.2-h25fd6f3_2.conda#c2a01a08fc991620a74b32420e97868a\n"},
		// conda: URL and MD5 come from FETCH; LINK order is kept and the
		// virtual package __unix left out.
		{file: "conda-early2023-create-dry-run.json", explicit: "@EXPLICIT\n" +
			"https://conda.anaconda.org/conda-forge/linux-64/ca-certificates-2022.12.7-ha878542_0.conda#ff9f73d45c4a07d6f424495288a26080\n" +
			"https://conda.anaconda.org/conda-forge/linux-64/libstdcxx-ng-12.2.0-h46fd767_19.tar.bz2#1030b1f38c129f2634eae026f704fe60\n" +
			"https://conda.anaconda.org/conda-forge/linux-64/bzip2-1.0.8-h7f98852_4.tar.bz2#a1fd65c7ccbf10880423d82bca54eb54\n" +
			"https://conda.anaconda.org/conda-forge/linux-64/libffi-3.4.2-h7f98852_5.tar.bz2#d645c6d2ac96843a2bfaccd2d62b3ac3\n" +
			"https://conda.anaconda.org/conda-forge/linux-64/openssl-3.0.7-h0b41bf4_1.conda#7adaac6ff98219bcb99b45e408b80f4e\n" +
			"https://conda.anaconda.org/conda-forge/linux-64/python-3.9.15-hba424b6_0_cpython.conda#7b9485fce17fac2dd4aca6117a9936c2\n" +
			"https://conda.anaconda.org/conda-forge/noarch/certifi-2022.12.7-pyhd8ed1ab_0.conda#fb9addc3db06e56abe03e0e9f21a63e6\n" +
			"https://conda.anaconda.org/conda-forge/noarch/wheel-0.38.4-pyhd8ed1ab_0.tar.bz2#c829cfb8cb826acb9de0ac1a2df0a940\n"},
		// Linked from the package cache: LINK only, no FETCH entry.
		{file: "mamba-1.5.12-create-dry-run.json", missing: "libzlib-1.3.2-h25fd6f3_2"},
		{file: "conda-4.8-install-dry-run.json", missing: "ca-certificates-2019.11.28-hecc5488_0"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			pkgs, err := ParseCondaDryRun(condaTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ExplicitList(pkgs)
			if tc.missing != "" {
				if err == nil || !strings.Contains(err.Error(), tc.missing) {
					t.Fatalf("ExplicitList error = %v, want one naming %s", err, tc.missing)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.explicit {
				t.Errorf("explicit list:\n%s\nwant:\n%s", got, tc.explicit)
			}
		})
	}
}

func TestRecordedCondaDryRunCompletesFromFetch(t *testing.T) {
	// conda 4.8 fetches four of the five packages it links; those get the
	// URL and MD5 of their FETCH record.
	pkgs, err := ParseCondaDryRun(condaTestdata(t, "conda-4.8-install-dry-run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pkgs {
		names = append(names, p.Name)
	}
	if want := []string{"ca-certificates", "openssl", "python_abi", "certifi", "pandas"}; !reflect.DeepEqual(names, want) {
		t.Errorf("packages %v, want %v", names, want)
	}
	want := CondaPackage{Name: "pandas", Version: "1.0.3", DistName: "pandas-1.0.3-py37h0da4684_0",
		URL: "https://conda.anaconda.org/conda-forge/linux-64/pandas-1.0.3-py37h0da4684_0.tar.bz2", MD5: "130ea975709db545d0c7e3ad34a5e9df"}
	if pkgs[4] != want {
		t.Errorf("pandas = %+v, want %+v", pkgs[4], want)
	}
	if pkgs[0].URL != "" || pkgs[0].MD5 != "" {
		t.Errorf("ca-certificates (cached, LINK only) = %+v, want no URL and MD5", pkgs[0])
	}
}

func TestRecordedCondaSolveErrors(t *testing.T) {
	tests := []struct {
		file  string
		typed bool     // a *CondaSolveError
		want  []string // substrings of the message
	}{
		{"conda-4.8-install-packages-not-found.json", true,
			[]string{"PackagesNotFoundError: The following packages are not available from current channels:", "  - foobarfooo"}},
		{"micromamba-1.4-create-solver-problems.json", true,
			[]string{"the solve failed:\n  - package libarrow-12.0.0-h07599e3_0_cuda requires libevent >=2.1.12,<2.1.13.0a0, but none of the providers can be installed"}},
		// mamba 0.24 printed plain text despite --json.
		{"mamba-0.24-install-dry-run-not-found.txt", false,
			[]string{"no JSON object", "nothing provides requested xyz"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			_, err := ParseCondaDryRun(condaTestdata(t, tc.file))
			if err == nil {
				t.Fatal("no error")
			}
			var solveErr *CondaSolveError
			if errors.As(err, &solveErr) != tc.typed {
				t.Errorf("error %T, want a *CondaSolveError: %v", err, tc.typed)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestRecordedCondaPkgsDirs(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"conda-24.9.1-info.json", []string{"/home/runner/conda_pkgs_dir"}},
		{"mamba-2.0.2-info.json", []string{"/home/runner/conda_pkgs_dir"}},
		{"micromamba-1.4.6-info.json", []string{"/home/user/micromamba/pkgs", "/home/user/.mamba/pkgs"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := ParseCondaPkgsDirs(condaTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("pkgs dirs %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRecordedCondaPackageCache(t *testing.T) {
	// mamba 1.5.12 (conda's printer) links libzlib from the package cache
	// without URL or MD5. micromamba 1.5.12 printed the full record of the
	// same build; a package cache keeps that record, with url and md5, as
	// <pkgs_dir>/<dist>/info/repodata_record.json.
	var mm struct {
		Actions struct {
			Link []json.RawMessage `json:"LINK"`
		} `json:"actions"`
	}
	if err := json.Unmarshal(condaTestdata(t, "micromamba-1.5.12-create-dry-run.json"), &mm); err != nil {
		t.Fatal(err)
	}
	pkgsDir := t.TempDir()
	info := filepath.Join(pkgsDir, "libzlib-1.3.2-h25fd6f3_2", "info")
	if err := os.MkdirAll(info, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(info, "repodata_record.json"), mm.Actions.Link[0], 0o644); err != nil {
		t.Fatal(err)
	}

	pkgs, err := ParseCondaDryRun(condaTestdata(t, "mamba-1.5.12-create-dry-run.json"))
	if err != nil {
		t.Fatal(err)
	}
	FillFromPackageCache(pkgs, []string{filepath.Join(t.TempDir(), "missing"), pkgsDir})
	got, err := ExplicitList(pkgs)
	if err != nil {
		t.Fatal(err)
	}
	want := "@EXPLICIT\nhttps://conda.anaconda.org/conda-forge/linux-64/libzlib-1.3.2-h25fd6f3_2.conda#d87ff7921124eccd67248aa483c23fec\n"
	if got != want {
		t.Errorf("explicit list:\n%s\nwant:\n%s", got, want)
	}
}

// explicitLineRe is a package line of an explicit file with an MD5, as CEP
// 23 specifies it.
var explicitLineRe = regexp.MustCompile(`^(?:(?:.+)[/\\])?[^/\\#]+(?:\.tar\.bz2|\.conda)#[0-9a-f]{32}$`)

func explicitPackageLines(t *testing.T, text string) []string {
	t.Helper()
	var lines []string
	seen := false
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case line == "@EXPLICIT":
			seen = true
		case !seen:
			t.Fatalf("line before @EXPLICIT: %q", line)
		default:
			lines = append(lines, line)
		}
	}
	if !seen {
		t.Fatal("no @EXPLICIT line")
	}
	return lines
}

func TestRecordedExplicitFormat(t *testing.T) {
	// What conda and micromamba write as explicit files, and what senv
	// writes from each recorded dry run, have the same line format.
	texts := map[string]string{}
	for _, f := range []string{"conda-list-explicit-md5-xtensor.txt", "micromamba-2023-env-export-explicit.txt"} {
		texts[f] = string(condaTestdata(t, f))
	}
	for _, f := range []string{"micromamba-1.5.12-create-dry-run.json", "mamba-2.6.0-create-dry-run.json", "conda-early2023-create-dry-run.json"} {
		pkgs, err := ParseCondaDryRun(condaTestdata(t, f))
		if err != nil {
			t.Fatal(err)
		}
		if texts["senv from "+f], err = ExplicitList(pkgs); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range texts {
		t.Run(name, func(t *testing.T) {
			lines := explicitPackageLines(t, text)
			if len(lines) == 0 {
				t.Fatal("no package lines")
			}
			for _, line := range lines {
				if !explicitLineRe.MatchString(line) {
					t.Errorf("not an explicit package line with md5: %q", line)
				}
			}
		})
	}
}

func TestCondaSolveArgs(t *testing.T) {
	const pre = "bin create --dry-run --json --yes --prefix /tmp/p --override-channels "
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"default channel", Spec{Manager: "micromamba", Conda: []string{"numpy"}},
			pre + "--channel conda-forge numpy"},
		{"channels in order, nodefaults dropped", Spec{Manager: "mamba", Conda: []string{"numpy"}, Channels: []string{"pytorch", "nvidia", "conda-forge", "nodefaults"}},
			pre + "--channel pytorch --channel nvidia --channel conda-forge numpy"},
		{"solver for conda", Spec{Manager: "conda", Solver: "classic", Conda: []string{"numpy"}},
			pre + "--channel conda-forge --solver=classic numpy"},
		{"no solver for micromamba", Spec{Manager: "micromamba", Solver: "libmamba", Conda: []string{"numpy"}},
			pre + "--channel conda-forge numpy"},
		{"python added", Spec{Manager: "conda", Solver: "libmamba", Python: "3.11", Conda: []string{"numpy>=1.26"}},
			pre + "--channel conda-forge --solver=libmamba numpy>=1.26 python=3.11"},
		{"python named by a spec", Spec{Manager: "mamba", Python: "3.11", Conda: []string{"conda-forge::python>=3.10", "numpy"}},
			pre + "--channel conda-forge conda-forge::python>=3.10 numpy"},
		{"python-dateutil is not python", Spec{Manager: "mamba", Python: "3.12", Conda: []string{"python-dateutil"}},
			pre + "--channel conda-forge python-dateutil python=3.12"},
		{"python range (requires-python)", Spec{Manager: "micromamba", Python: ">=3.10, <3.13", Conda: []string{"numpy"}},
			pre + "--channel conda-forge numpy python>=3.10,<3.13"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(CondaSolveArgs("bin", &tc.spec, "/tmp/p"), " ")
			if got != tc.want {
				t.Errorf("args:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestCondaTool(t *testing.T) {
	tests := []struct{ manager, out, want string }{
		{"conda", "conda 24.1.2\n", "conda 24.1.2"},
		{"micromamba", "1.5.8\n", "micromamba 1.5.8"},
		{"mamba", "2.0.5\n", "mamba 2.0.5"},
		{"mamba", "mamba 1.5.8\nconda 24.1.2\n", "mamba 1.5.8, conda 24.1.2"},
	}
	for _, tc := range tests {
		if got := condaTool(tc.manager, []byte(tc.out)); got != tc.want {
			t.Errorf("condaTool(%q, %q) = %q, want %q", tc.manager, tc.out, got, tc.want)
		}
	}
}

// TestCondaRealBinary solves with every real conda-family manager against
// the local test channel: the lock is an @EXPLICIT list with the newest
// libdemo, a second solve (packages now in the package cache, where conda
// lists them without URL and MD5) locks the same, and a package no channel
// has is a solve error.
func TestCondaRealBinary(t *testing.T) {
	channel := condatools.Channel(t)
	for _, tool := range condatools.All(t) {
		t.Run(tool.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cfg := &config.Config{Conda: tool.Bin, Mamba: tool.Bin, Micromamba: tool.Bin, StageDir: t.TempDir()}
			if err := os.MkdirAll(filepath.Join(cfg.StageDir, ".senv"), 0o700); err != nil {
				t.Fatal(err)
			}
			s := &Spec{Manager: tool.Manager, Solver: tool.Solver, Conda: []string{"hello-prefix"}, Channels: []string{channel}}
			l := &Lock{}
			if err := solveConda(ctx, l, s, Runner{}, cfg, t.TempDir()); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(l.Tool, tool.Manager+" ") {
				t.Errorf("tool %q, want %q and a version", l.Tool, tool.Manager)
			}
			lines := explicitPackageLines(t, l.Explicit)
			if len(lines) != 2 || l.PackageCount() != 2 {
				t.Errorf("explicit list has %d packages (counted %d), want libdemo and hello-prefix:\n%s", len(lines), l.PackageCount(), l.Explicit)
			}
			for _, line := range lines {
				if !explicitLineRe.MatchString(line) {
					t.Errorf("not an explicit package line with md5: %q", line)
				}
			}
			if !strings.Contains(l.Explicit, channel+"/linux-64/libdemo-1.1-h0_0.conda#1c375ac196cfe1a12d1a9c3c74b19016") {
				t.Errorf("no libdemo 1.1 in\n%s", l.Explicit)
			}
			// Fill the stage's package cache, then solve again.
			file := filepath.Join(t.TempDir(), "explicit.txt")
			if err := os.WriteFile(file, []byte(l.Explicit), 0o644); err != nil {
				t.Fatal(err)
			}
			r := Runner{}.WithCondaPkgsDir(CondaPkgsDir(cfg.StageDir, ""))
			if out, err := r.Output(ctx, CondaCreateArgs(tool.Bin, filepath.Join(t.TempDir(), "env"), file)...); err != nil {
				t.Fatalf("create: %v\n%s", err, out)
			}
			l2 := &Lock{}
			if err := solveConda(ctx, l2, s, Runner{}, cfg, t.TempDir()); err != nil || l2.Explicit != l.Explicit {
				t.Errorf("solve with a warm package cache: %v\n%s\nwant\n%s", err, l2.Explicit, l.Explicit)
			}

			s.Conda = []string{"senv-no-such-package-zq"}
			err := solveConda(ctx, &Lock{}, s, Runner{}, cfg, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), "failed to solve with "+tool.Manager) {
				t.Errorf("solving a missing package: error %v", err)
			}
		})
	}
}

// TestCondaSolveWithFakeBinaryReplayingRecordedOutput drives solveConda
// against a shell script that replays recorded outputs of tools that
// cannot run here (mamba 1, conda 4.8): it checks the commands and the
// fallbacks for their sparse records.
func TestCondaSolveWithFakeBinaryReplayingRecordedOutput(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "fake-conda")
	script := `#!/bin/sh
echo "$* CONDA_PKGS_DIRS=$CONDA_PKGS_DIRS" >> "$FAKE_LOG"
case "$1" in
--version) printf '%s\n' "$FAKE_VERSION" ;;
info) cat "$FAKE_INFO" ;;
create) cat "$FAKE_OUT"; exit "${FAKE_EXIT:-0}" ;;
esac
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	abs := func(name string) string {
		p, err := filepath.Abs(filepath.Join("testdata", "conda", name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A package cache holding libzlib's record (micromamba 1.5.12 printed
	// the record of the same build).
	var mm struct {
		Actions struct {
			Link []json.RawMessage `json:"LINK"`
		} `json:"actions"`
	}
	if err := json.Unmarshal(condaTestdata(t, "micromamba-1.5.12-create-dry-run.json"), &mm); err != nil {
		t.Fatal(err)
	}
	pkgsDir := filepath.Join(dir, "pkgs")
	if err := os.MkdirAll(filepath.Join(pkgsDir, "libzlib-1.3.2-h25fd6f3_2", "info"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkgsDir, "libzlib-1.3.2-h25fd6f3_2", "info", "repodata_record.json"), mm.Actions.Link[0], 0o644); err != nil {
		t.Fatal(err)
	}
	infoWith, infoWithout := filepath.Join(dir, "info-with.json"), filepath.Join(dir, "info-without.json")
	if err := os.WriteFile(infoWith, []byte(`{"pkgs_dirs": [`+jsonQuote(pkgsDir)+`]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(infoWithout, []byte(`{"pkgs_dirs": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	const libzlib = "@EXPLICIT\nhttps://conda.anaconda.org/conda-forge/linux-64/libzlib-1.3.2-h25fd6f3_2.conda#d87ff7921124eccd67248aa483c23fec\n"

	tests := []struct {
		name, manager, version, out, info, exit string
		tool, explicit, err                     string
		creates                                 int // dry runs expected
	}{
		{name: "micromamba", manager: "micromamba", version: "1.5.12", out: "micromamba-1.5.12-create-dry-run.json",
			tool: "micromamba 1.5.12", explicit: libzlib, creates: 1},
		{name: "mamba 1 from the package cache", manager: "mamba", version: "mamba 1.5.12\nconda 24.11.3",
			out: "mamba-1.5.12-create-dry-run.json", info: infoWith, tool: "mamba 1.5.12, conda 24.11.3", explicit: libzlib, creates: 1},
		{name: "mamba 1, not in the cache", manager: "mamba", version: "mamba 1.5.12",
			out: "mamba-1.5.12-create-dry-run.json", info: infoWithout, err: "no package URL and MD5 for libzlib-1.3.2-h25fd6f3_2", creates: 2},
		{name: "conda package not found", manager: "conda", version: "conda 24.1.2", exit: "1",
			out: "conda-4.8-install-packages-not-found.json", err: "failed to solve with conda: PackagesNotFoundError: The following packages are not available", creates: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "log")
			r := Runner{Env: []string{"FAKE_LOG=" + log, "FAKE_VERSION=" + tc.version, "FAKE_OUT=" + abs(tc.out),
				"FAKE_INFO=" + tc.info, "FAKE_EXIT=" + tc.exit, "CONDA_PKGS_DIRS="}}
			cfg := &config.Config{Conda: fake, Mamba: fake, Micromamba: fake}
			s := &Spec{Manager: tc.manager, Solver: "libmamba", Conda: []string{"libzlib"}}
			tmp := t.TempDir()
			l := &Lock{}
			err := solveConda(context.Background(), l, s, r, cfg, tmp)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if l.Tool != tc.tool || l.Explicit != tc.explicit || !reflect.DeepEqual(l.Channels, []string{"conda-forge"}) {
				t.Errorf("lock tool %q, channels %q, explicit:\n%s\nwant %q, [conda-forge],\n%s", l.Tool, l.Channels, l.Explicit, tc.tool, tc.explicit)
			}
			data, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			var creates []string
			for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				if strings.HasPrefix(line, "create ") {
					creates = append(creates, line)
				}
			}
			if len(creates) != tc.creates {
				t.Fatalf("dry runs:\n%s\nwant %d", strings.Join(creates, "\n"), tc.creates)
			}
			want := "create --dry-run --json --yes --prefix " + filepath.Join(tmp, "prefix") + " --override-channels --channel conda-forge libzlib"
			if tc.manager == "conda" {
				want = strings.Replace(want, " libzlib", " --solver=libmamba libzlib", 1)
			}
			if creates[0] != want+" CONDA_PKGS_DIRS="+filepath.Join(tmp, "pkgs") {
				t.Errorf("dry run %q, want %q", creates[0], want)
			}
			if tc.creates == 2 && creates[1] != want+" CONDA_PKGS_DIRS="+filepath.Join(tmp, "pkgs-empty") {
				t.Errorf("second dry run %q, want one against an empty package cache", creates[1])
			}
		})
	}
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestCondaDryRunAroundText(t *testing.T) {
	// mamba 1 once printed "DryRunExit: Dry run. Exiting." before the JSON and
	// a second copy after it (mamba-org/mamba#207).
	rec := condaTestdata(t, "micromamba-1.5.12-create-dry-run.json")
	data := append(append([]byte("DryRunExit: Dry run. Exiting. {not json}\n\n"), rec...), rec...)
	pkgs, err := ParseCondaDryRun(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 1 || pkgs[0].Name != "libzlib" {
		t.Errorf("packages %+v, want libzlib", pkgs)
	}
}

// TestModuleCondaManager loads a real Lmod module that puts the real conda
// on PATH (a site's miniconda/3): a conda spec with that module is built by
// the module's conda, even with micromamba on PATH, and the module's
// conda reports its version with the module loaded.
func TestModuleCondaManager(t *testing.T) {
	var conda condatools.Tool
	for _, tool := range condatools.Available(t) {
		if tool.Manager == "conda" {
			conda = tool
		}
	}
	if conda.Bin == "" {
		t.Skip("no conda on PATH")
	}
	cfg, err := config.Load(func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	haveModules := false
	for _, f := range cfg.ModuleInit {
		if _, err := os.Stat(f); err == nil {
			haveModules = true
		}
	}
	if !haveModules {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must have Lmod (e2e/testbed/install.sh installs it)")
		}
		t.Skipf("no module system at %q", cfg.ModuleInit)
	}
	tree, bin := t.TempDir(), t.TempDir()
	if err := os.Symlink(conda.Bin, filepath.Join(bin, "conda")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tree, "miniconda"), 0o755); err != nil {
		t.Fatal(err)
	}
	lua := "prepend_path(\"PATH\", \"" + bin + "\")\n"
	if err := os.WriteFile(filepath.Join(tree, "miniconda", "3.lua"), []byte(lua), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MODULEPATH", tree)
	tests := []struct {
		name    string
		modules []string
		want    string
	}{
		{"module brings conda", []string{"miniconda/3"}, "conda"},
		{"no modules", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := moduleCondaManager(tc.modules, cfg); got != tc.want {
				t.Errorf("manager %q, want %q", got, tc.want)
			}
		})
	}
	s := &Spec{Manager: "conda", Modules: []string{"miniconda/3"}}
	out, err := RunnerFor(s, cfg).Output(context.Background(), "/bin/sh", "-c", "command -v conda; conda --version")
	if err != nil || !strings.HasPrefix(string(out), filepath.Join(bin, "conda")+"\nconda ") {
		t.Errorf("conda with the module loaded: %v %q", err, out)
	}
}
