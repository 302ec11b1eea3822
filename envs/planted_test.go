package envs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPlantedFiles: what a member of a shared cache can plant in it, a FIFO
// for an entry's file or a lock, a symlink for a lock, a huge metadata
// file, is refused at once: before, reading a FIFO meta.json hung every
// other member's `senv ls` and staging, and a lock symlinked to another
// file had that file truncated by the next build.
func TestPlantedFiles(t *testing.T) {
	const victimText = "the victim's data\n"
	cases := []struct {
		name  string
		plant func(t *testing.T, c Cache, id string) // returns after planting
		op    func(c Cache, id string) error
		want  string
	}{
		{name: "meta.json a FIFO", plant: fifo("envs/ID/" + metaName),
			op: func(c Cache, id string) error { _, err := c.Meta(id); return err }, want: "not a regular file"},
		{name: "manifest.gob a FIFO", plant: fifo("envs/ID/" + indexName),
			op: func(c Cache, id string) error { _, err := c.Manifest(id); return err }, want: "not a regular file"},
		{name: "meta.json of 300 MiB", plant: sparse("envs/ID/"+metaName, 300<<20),
			op: func(c Cache, id string) error { _, err := c.Meta(id); return err }, want: "is larger than 256 MiB"},
		{name: "build lock a FIFO", plant: fifo("build/ID.lock"),
			op: func(c Cache, id string) error { l, err := c.BuildLock(id, time.Second, nil); l.Release(); return err }, want: "not a regular file"},
		{name: "build lock a FIFO, awaited", plant: fifo("build/ID.lock"),
			op: func(c Cache, id string) error { c.AwaitBuild(id, time.Minute, nil); return errors.New("returned") }, want: "returned"},
		{name: "build lock a symlink", plant: func(t *testing.T, c Cache, id string) {
			victim := filepath.Join(t.TempDir(), "victim")
			if err := os.WriteFile(victim, []byte(victimText), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(victim, filepath.Join(c.Root, "build", id+".lock")); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if b, _ := os.ReadFile(victim); string(b) != victimText {
					t.Errorf("the file a lock symlink names was written: %q", b)
				}
			})
		}, op: func(c Cache, id string) error { l, err := c.BuildLock(id, time.Second, nil); l.Release(); return err }, want: "too many levels of symbolic links"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, id := publishTest(t, nil)
			os.MkdirAll(filepath.Join(c.Root, "build"), 0o755)
			tc.plant(t, c, id)
			done := make(chan error, 1)
			go func() { done <- tc.op(c, id) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("got %v, want an error containing %q", err, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still waiting after 10 s") // the FIFO's cleanup frees it
			}
		})
	}
}

// fifo replaces rel (under the cache's v1/, ID replaced) with a FIFO,
// opened for writing at cleanup so that a reader stuck on it returns.
func fifo(rel string) func(*testing.T, Cache, string) {
	return func(t *testing.T, c Cache, id string) {
		p := filepath.Join(c.Root, strings.ReplaceAll(rel, "ID", id))
		os.Remove(p)
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		})
	}
}

// sparse makes rel a sparse file of size bytes.
func sparse(rel string, size int64) func(*testing.T, Cache, string) {
	return func(t *testing.T, c Cache, id string) {
		if err := os.Truncate(filepath.Join(c.Root, strings.ReplaceAll(rel, "ID", id)), size); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStageMarkerAfterReboot: a completeness marker this host wrote in an
// earlier boot is not trusted (staging does not fsync, so after a power
// loss the marker may have survived files that did not); the env is then
// staged again. Markers of another host (a shared stage dir) and of an
// older senv are trusted.
func TestStageMarkerAfterReboot(t *testing.T) {
	host, _ := os.Hostname()
	if bootID() == "" || host == "" {
		t.Fatal("needs /proc/sys/kernel/random/boot_id and a host name")
	}
	const id = "0123456789abcdef"
	earlier := id + " host " + host + " boot 00000000-0000-0000-0000-000000000000\n"
	cases := []struct {
		name, marker string
		shared       bool // the stage dir on a shared filesystem (faked: none here)
		want         bool
	}{
		{"written now", "", false, true},
		{"this host, an earlier boot", earlier, false, false},
		{"another host, another boot", id + " host node-elsewhere boot 00000000-0000-0000-0000-000000000000\n", false, true},
		{"an older senv's", id + "\n", false, true},
		// a `stage none` env in the cache, in use by other nodes' jobs:
		// its builder's reboot must not rebuild it under them
		{"this host, an earlier boot, on a shared filesystem (fake)", earlier, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := publishTest(t, nil)
			s, err := OpenStage(filepath.Join(t.TempDir(), "stage"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !s.local {
				t.Fatalf("%s is not seen as node-local", s.Dir)
			}
			s.local = !tc.shared
			if _, err := s.FromCache(c, id, nil, nil); err != nil {
				t.Fatal(err)
			}
			if tc.marker != "" {
				if err := os.WriteFile(s.ReadyPath(id), []byte(tc.marker), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got := s.Ready(id); got != tc.want {
				t.Errorf("Ready = %v, want %v", got, tc.want)
			}
			if !tc.want { // what Ensure does next: stage again, and trust that
				if _, err := s.FromCache(c, id, nil, nil); err != nil || !s.Ready(id) {
					t.Errorf("staged again: %v, ready %v", err, s.Ready(id))
				}
			}
		})
	}
}

// TestCleanTemp: under the build lock, a builder removes the leftovers of
// crashed writers of its env from the cache's tmp/, and only those: on a
// filesystem whose locks hold only within a node, another node's builder
// may be writing its own temp dir right now. Before, every tmp/ID.* went.
func TestCleanTemp(t *testing.T) {
	const id = "0123456789abcdef"
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Process.Kill(); live.Wait() })
	host := tempWriter()
	old := time.Now().Add(-2 * tempGrace)
	cases := []struct {
		name     string
		temp     string // the leftover's name, a dir with one file
		aged     bool   // the dir and its file unchanged for 2 tempGrace
		agedDir  bool   // the dir alone: its file is fresh
		wantGone bool
	}{
		{name: "this host, process gone", temp: fmt.Sprintf("%s.%s.%d.pack.1", id, host, dead.Process.Pid), wantGone: true},
		{name: "this host, process alive", temp: fmt.Sprintf("%s.%s.%d.pack.2", id, host, live.Process.Pid)},
		{name: "this process (another goroutine)", temp: fmt.Sprintf("%s.%s.%d.pack.3", id, host, os.Getpid())},
		{name: "a host named alike, another boot", temp: fmt.Sprintf("%s.%s.%d.pack.7", id, sameNameOtherBoot(host), dead.Process.Pid)},
		{name: "a host of an older senv's names (no boot), process gone", temp: fmt.Sprintf("%s.%s.%d.pack.8", id, strings.SplitN(host, "~", 2)[0], dead.Process.Pid)},
		{name: "another host, fresh", temp: id + ".node-elsewhere.12345.pack.4"},
		{name: "another host, being written", temp: id + ".node-elsewhere.12345.pack.5", agedDir: true},
		{name: "another host, unchanged for long", temp: id + ".node-elsewhere.12345.pack.6", aged: true, wantGone: true},
		{name: "an older senv's, fresh", temp: id + ".123456"},
		{name: "an older senv's, unchanged for long", temp: id + ".654321", aged: true, wantGone: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := OpenCache(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(c.Root, "tmp", tc.temp)
			mkdir(t, dir)
			file := filepath.Join(dir, archiveName)
			if err := os.WriteFile(file, []byte("part"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.aged {
				os.Chtimes(file, old, old)
			}
			if tc.aged || tc.agedDir {
				os.Chtimes(dir, old, old)
			}
			c.CleanTemp(id)
			_, err = os.Stat(dir)
			if gone := os.IsNotExist(err); gone != tc.wantGone {
				t.Errorf("%s gone: %v, want %v", tc.temp, gone, tc.wantGone)
			}
		})
	}
}

// TestRepublishOnlyWhatWasStaged: an env staged here but gone from the
// cache (collected, wiped) is published again from the stage, unless
// something in it changed since it was staged (senv shell, then pip
// install): that is not in the lock, and would become the env of every
// other user of the cache. The run itself still uses the stage.
func TestRepublishOnlyWhatWasStaged(t *testing.T) {
	cases := []struct {
		name       string
		change     func(t *testing.T, prefix string)
		wantPublic bool
	}{
		{name: "as staged", wantPublic: true},
		{name: "a package added", change: func(t *testing.T, prefix string) {
			mkdir(t, filepath.Join(prefix, "lib", "pkg", "extra-1.0.dist-info"))
		}},
		{name: "a file edited", change: func(t *testing.T, prefix string) {
			if err := os.WriteFile(filepath.Join(prefix, "bin", "tool"), []byte("#!/bin/sh\necho changed\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a mode changed", change: func(t *testing.T, prefix string) {
			if err := os.Chmod(filepath.Join(prefix, "bin", "tool"), 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "bytecode written by Python", wantPublic: true, change: func(t *testing.T, prefix string) {
			pyc(t, prefix)
		}},
		{name: "a file removed after bytecode was written", change: func(t *testing.T, prefix string) {
			afterMarker(t, filepath.Dir(pyc(t, prefix)))
			if err := os.Remove(filepath.Join(prefix, "lib", "pkg", "mod.py")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, id := publishTest(t, nil)
			stage, err := OpenStage(filepath.Join(t.TempDir(), "stage"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stage.FromCache(c, id, nil, nil); err != nil {
				t.Fatal(err)
			}
			afterMarker(t, stage.ReadyPath(id))
			if tc.change != nil {
				tc.change(t, stage.Prefix(id))
			}
			if err := c.Remove(id); err != nil {
				t.Fatal(err)
			}
			var log []string
			store := &Store{Cache: c, Stage: stage, Timeout: time.Minute, Publish: true,
				Logf: func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) }}
			job := Job{ID: id, Lock: testLock(), Backend: slowBackend{}, Meta: Meta{ID: id, Manager: "venv", Kind: "venv"}}
			prefix, outcome, err := store.Ensure(context.Background(), job)
			if err != nil || outcome != Staged || prefix != stage.Prefix(id) {
				t.Fatalf("ensure: %q %s %v; want the staged env", prefix, outcome, err)
			}
			if got := c.Has(id); got != tc.wantPublic {
				t.Errorf("published again: %v, want %v; log:\n%s", got, tc.wantPublic, strings.Join(log, "\n"))
			}
			if !tc.wantPublic && !strings.Contains(strings.Join(log, "\n"), "changed since it was staged") {
				t.Errorf("no warning saying why it was not published:\n%s", strings.Join(log, "\n"))
			}
		})
	}
}

// sameNameOtherBoot is writer (see tempWriter) with another boot ID.
func sameNameOtherBoot(writer string) string {
	f := strings.Split(writer, "~")
	f[1] = "000000000000"
	return strings.Join(f, "~")
}

// pyc writes bytecode as Python does at import: a new __pycache__ dir in
// lib/pkg, a .pyc renamed into it. It returns the .pyc.
func pyc(t *testing.T, prefix string) string {
	t.Helper()
	dir := filepath.Join(prefix, "lib", "pkg", "__pycache__")
	mkdir(t, dir)
	tmp, pyc := filepath.Join(dir, "mod.cpython-311.pyc.123"), filepath.Join(dir, "mod.cpython-311.pyc")
	if err := os.WriteFile(tmp, []byte("bytecode"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, pyc); err != nil {
		t.Fatal(err)
	}
	return pyc
}

// afterMarker polls until the kernel's clock for file times has passed the
// mtime of marker (or of any file), so that a change made next has a later ctime (that clock
// is coarse: a change in the same tick would look as old as the marker).
func afterMarker(t *testing.T, marker string) {
	t.Helper()
	m, err := os.Stat(marker)
	if err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(t.TempDir(), "probe")
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if err := os.WriteFile(probe, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if p, err := os.Stat(probe); err == nil && p.ModTime().After(m.ModTime()) {
			return
		}
	}
	t.Fatal("the file clock did not pass the marker's mtime in 5 s")
}
