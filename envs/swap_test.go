package envs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// swapWorld is the stage-swap attack of issue 11 item 1: the victim's
// stage dir sits in a parent others can write to, and an attacker keeps
// exchanging it (renameat2 RENAME_EXCHANGE) with a symlink to a tree of his
// own that looks staged: a marker and ID/bin/python.
type swapWorld struct {
	parent, stage, link string
	id                  string
}

const (
	victimPython   = "#!/bin/sh\necho victim\n"
	attackerPython = "#!/bin/sh\necho attacker\n"
)

func newSwapWorld(t testing.TB, parentMode os.FileMode) swapWorld {
	t.Helper()
	w := swapWorld{parent: filepath.Join(t.TempDir(), "S"), id: "0123456789abcdef"}
	w.stage, w.link = filepath.Join(w.parent, "u2stage"), filepath.Join(w.parent, "evil")
	if err := os.Mkdir(w.parent, 0o755); err != nil {
		t.Fatal(err)
	}
	// the victim's real, staged env (made while the parent is still safe)
	s, err := OpenStage(w.stage, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeEnv(t, s.Prefix(w.id), victimPython)
	if err := s.MarkReady(w.id); err != nil {
		t.Fatal(err)
	}
	// the attacker's look-alike, owned by him
	evil := filepath.Join(filepath.Dir(w.parent), "attacker")
	writeEnv(t, filepath.Join(evil, w.id), attackerPython)
	os.MkdirAll(filepath.Join(evil, ".senv"), 0o700)
	os.WriteFile(filepath.Join(evil, ".senv", w.id+".done"), []byte(w.id+"\n"), 0o600)
	if os.Getuid() == 0 {
		chownTree(t, evil, 65534, 65534)
	}
	if err := os.Symlink(evil, w.link); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(w.parent, parentMode); err != nil {
		t.Fatal(err)
	}
	return w
}

func writeEnv(t testing.TB, prefix, python string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(prefix, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(prefix, "bin", "python"), []byte(python), 0o755); err != nil {
		t.Fatal(err)
	}
}

func chownTree(t testing.TB, root string, uid, gid int) {
	t.Helper()
	filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		if err == nil {
			err = os.Lchown(p, uid, gid)
		}
		if err != nil {
			t.Fatal(err)
		}
		return nil
	})
}

// race runs the attacker for at most d or trials victim runs, whichever
// ends first. A victim run is what `senv run` does on a warm node: open the
// stage, check the marker, exec PREFIX/bin/python (here: read it). It
// returns the runs, the runs that used the attacker's tree, and the runs
// senv refused.
func (w swapWorld) race(d time.Duration, trials int) (runs, hijacked, refused int, lastErr error) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			_ = unix.Renameat2(unix.AT_FDCWD, w.stage, unix.AT_FDCWD, w.link, unix.RENAME_EXCHANGE)
		}
	}()
	deadline := time.Now().Add(d)
	for runs = 0; runs < trials && time.Now().Before(deadline); runs++ {
		s, err := OpenStage(w.stage, nil)
		if err != nil {
			refused++
			lastErr = err
			continue
		}
		if !s.Ready(w.id) {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(s.Prefix(w.id), "bin", "python")); err == nil && string(b) == attackerPython {
			hijacked++
		}
	}
	stop.Store(true)
	wg.Wait()
	return runs, hijacked, refused, lastErr
}

// TestStageSwapRace: with the stage dir's parent writable by others, no run
// may ever use the attacker's tree (before the fix: 509 of 1844 did).
// Bounded: 2 s or 3000 runs.
func TestStageSwapRace(t *testing.T) {
	w := newSwapWorld(t, 0o775) // group-writable, no sticky bit
	runs, hijacked, refused, lastErr := w.race(2*time.Second, 3000)
	t.Logf("%d runs, %d hijacked, %d refused (%v)", runs, hijacked, refused, lastErr)
	if hijacked != 0 {
		t.Errorf("%d of %d runs used the attacker's tree", hijacked, runs)
	}
	if refused != runs {
		t.Errorf("%d of %d runs went ahead in a stage dir whose parent others can write to", runs-refused, runs)
	}
}

// TestStageAncestors: a stage dir is opened only when nobody untrusted can
// rename it or any dir above it, and the refusal says which dir and why.
func TestStageAncestors(t *testing.T) {
	root := os.Getuid() == 0
	cases := []struct {
		name    string
		mode    os.FileMode // of the stage dir's parent
		uid     int         // owner of the parent; -1: leave it
		gid     int         // group of the parent; -1: leave it
		trusted []string
		link    bool // reach the parent through a symlink in a world-writable dir
		want    string
	}{
		{name: "private parent", mode: 0o755, uid: -1, gid: -1},
		{name: "sticky world-writable parent (like /tmp)", mode: os.ModeSticky | 0o777, uid: -1, gid: -1},
		{name: "group-writable parent", mode: 0o775, uid: -1, gid: -1, want: "can write to it (mode 0775)"},
		{name: "world-writable parent", mode: 0o777, uid: -1, gid: -1, want: "anyone can write to it (mode 0777"},
		{name: "group-writable, group trusted", mode: 0o775, uid: -1, gid: 65534, trusted: []string{"group:65534"}},
		{name: "parent of another user", mode: 0o755, uid: 65534, gid: -1, want: "(uid 65534), whom you do not trust"},
		{name: "sticky parent of another user", mode: os.ModeSticky | 0o777, uid: 65534, gid: -1, want: "(uid 65534), whom you do not trust"},
		{name: "parent of a trusted user", mode: 0o755, uid: 65534, gid: -1, trusted: []string{"65534"}},
		{name: "symlink in a world-writable dir", mode: 0o755, uid: -1, gid: -1, link: true, want: "anyone can write to it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.uid >= 0 || tc.gid >= 0) && !root {
				t.Skip("needs root to chown")
			}
			base := t.TempDir()
			parent := filepath.Join(base, "S")
			os.Mkdir(parent, 0o755)
			os.Lchown(parent, tc.uid, tc.gid)
			os.Chmod(parent, tc.mode)
			dir := filepath.Join(parent, "stage")
			if tc.link {
				open := filepath.Join(base, "open")
				os.Mkdir(open, 0o777)
				os.Chmod(open, 0o777)
				os.Symlink(parent, filepath.Join(open, "link"))
				dir = filepath.Join(open, "link", "stage")
			}
			if tc.uid >= 0 { // the parent's owner made the stage dir for us
				os.Mkdir(filepath.Join(parent, "stage"), 0o700)
			}
			trust, err := NewTrust(tc.trusted)
			if err != nil {
				t.Fatal(err)
			}
			_, err = OpenStage(dir, trust)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrUntrusted)):
				t.Errorf("got %v, want an ErrUntrusted refusal containing %q", err, tc.want)
			}
		})
	}
}
