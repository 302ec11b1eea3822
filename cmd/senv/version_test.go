package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionLine: a stamped commit wins; else the commit the go command
// recorded (with -dirty); else "unknown".
func TestVersionLine(t *testing.T) {
	vcs := func(settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{}
		for i := 0; i < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	cases := []struct {
		name, version, commit string
		bi                    *debug.BuildInfo
		want                  string
	}{
		{"stamped", "1.2.0", "abc123", vcs("vcs.revision", "fff"), "senv 1.2.0 commit abc123 "},
		{"recorded by go build", "0.1.0-dev", "", vcs("vcs.revision", "fff", "vcs.modified", "false"), "senv 0.1.0-dev commit fff "},
		{"recorded, dirty", "0.1.0-dev", "", vcs("vcs.modified", "true", "vcs.revision", "fff"), "senv 0.1.0-dev commit fff-dirty "},
		{"no build info", "0.1.0-dev", "", nil, "senv 0.1.0-dev commit unknown "},
		{"no vcs info", "0.1.0-dev", "", vcs("-buildmode", "exe"), "senv 0.1.0-dev commit unknown "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionLine(tc.version, tc.commit, tc.bi); !strings.HasPrefix(got, tc.want) {
				t.Errorf("versionLine = %q, want it to start %q", got, tc.want)
			}
		})
	}
}

// TestVersionBuilt builds the real binary from a clone of this checkout
// (with the tree's uncommitted files committed in it) four ways and runs `senv version`: with make build (which stamps the
// commit with -ldflags), with other -ldflags, with a plain go build (the
// commit the go command records), and without VCS info. A clone, not this
// tree: the go command records nothing in a linked git worktree (its .git
// is a file; golang/go#58218), where make build's -ldflags still work.
func TestVersionBuilt(t *testing.T) {
	for _, tool := range []string{"go", "git", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on PATH to build senv with", tool)
		}
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout (git rev-parse: %v): nothing to build from", err)
	}
	clone := filepath.Join(t.TempDir(), "senv")
	if out, err := exec.Command("git", "clone", "-q", strings.TrimSpace(string(top)), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	// the clone gets this tree's files as they are now, committed, so that
	// what is tested is the code under test, not the last commit
	files, err := exec.Command("git", "-C", strings.TrimSpace(string(top)), "ls-files", "-z", "-co", "--exclude-standard").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Split(strings.TrimSuffix(string(files), "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(top)), f))
		if err != nil {
			continue // deleted in the tree
		}
		os.MkdirAll(filepath.Dir(filepath.Join(clone, f)), 0o755)
		if err := os.WriteFile(filepath.Join(clone, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commitAll := exec.Command("sh", "-c", "git add -A && { git diff --cached --quiet || git -c user.name=t -c user.email=t@t commit -qm tree; }")
	commitAll.Dir = clone
	if out, err := commitAll.CombinedOutput(); err != nil {
		t.Fatalf("git commit in the clone: %v\n%s", err, out)
	}
	head, err := exec.Command("git", "-C", clone, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	commit := strings.TrimSpace(string(head))
	cases := []struct {
		name string
		argv []string // run in the clone; builds bin/senv
		want string
	}{
		{"make build", []string{"make", "build"}, "senv " + version + " commit " + commit + " "},
		{"ldflags", []string{"go", "build", "-o", "bin/senv", "-ldflags", "-X main.version=9.8.7 -X main.commit=0123abc", "./cmd/senv"},
			"senv 9.8.7 commit 0123abc "},
		{"go build", []string{"go", "build", "-o", "bin/senv", "-buildvcs=true", "./cmd/senv"}, "senv " + version + " commit " + commit + " "},
		{"no vcs", []string{"go", "build", "-o", "bin/senv", "-buildvcs=false", "./cmd/senv"}, "senv " + version + " commit unknown "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(tc.argv[0], tc.argv[1:]...)
			cmd.Dir = clone
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(tc.argv, " "), err, out)
			}
			out, err := exec.Command(filepath.Join(clone, "bin", "senv"), "version").Output()
			if err != nil {
				t.Fatalf("senv version: %v", err)
			}
			if !strings.HasPrefix(string(out), tc.want) {
				t.Errorf("senv version = %q, want it to start %q", out, tc.want)
			}
		})
	}
}
