package envs

import (
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// other is the uid (and gid) of the "other user" in these tests: nobody.
const other = 65534

// TestCacheTrust: user B (nobody, here) may not publish what user A runs:
// a cache layout, an entry, a file in one, or a recorded lock that B owns
// or that B's group can write is refused, with a message naming the owner
// and trusted_owners; trusting B (or the group) accepts it.
func TestCacheTrust(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to chown (TestCacheTrustAsNobody runs as another user)")
	}
	// the other user's and group's names differ between distributions
	u, g := userName(other), groupName(other)
	cases := []struct {
		name    string
		attack  func(t *testing.T, c Cache, id string)
		trusted []string
		op      string // where the refusal happens: open, stage, lock
		want    string // "": accepted
	}{
		{name: "own entry", op: "stage"},
		{name: "v1 of another user", attack: chown(""), op: "open", want: "owned by " + u + " (uid 65534), whom you do not trust; " +
			"if " + u + ` may publish envs that you run, add "` + u + `" to trusted_owners`},
		{name: "v1 of a trusted user", attack: chown(""), trusted: []string{u}, op: "stage"},
		{name: "envs/ writable by an untrusted group", attack: chmod("envs", 0o775, other), op: "open",
			want: "can write to it (mode 0775); chmod g-w it, or, if every member of " + g + ` may publish envs that you run, add "group:` + g + `"`},
		{name: "envs/ writable by a trusted group", attack: chmod("envs", 0o775, other), trusted: []string{"group:" + g}, op: "stage"},
		{name: "entry republished by another user", attack: republish, op: "stage", want: "owned by " + u + " (uid 65534), whom you do not trust"},
		{name: "entry of a trusted user", attack: republish, trusted: []string{"65534"}, op: "stage"},
		{name: "entry of a member of a trusted group", attack: republish, trusted: []string{"group:" + primaryGroup(t, other)}, op: "stage"},
		{name: "meta.json of another user", attack: chown("envs/ID/" + metaName), op: "stage", want: "meta.json: it is owned by " + u},
		{name: "archive writable by an untrusted group", attack: chmod("envs/ID/"+archiveName, 0o664, other), op: "stage", want: "can write to it (mode 0664)"},
		{name: "archive a symlink", attack: symlinkArchive, op: "stage", want: "too many levels of symbolic links"},
		{name: "lock of another user", attack: chown("locks/k.toml"), op: "lock", want: "k.toml: it is owned by " + u},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, id := publishTest(t, nil)
			if err := c.PublishLock(testLock(), false); err != nil {
				t.Fatal(err)
			}
			if tc.attack != nil {
				tc.attack(t, c, id)
			}
			trust, err := NewTrust(tc.trusted)
			if err != nil {
				t.Fatal(err)
			}
			c, err = OpenCache(filepath.Dir(c.Root), trust)
			if tc.op != "open" && err != nil {
				t.Fatalf("OpenCache: %v", err)
			}
			switch tc.op {
			case "stage":
				var s Stage
				if s, err = OpenStage(filepath.Join(t.TempDir(), "stage"), trust); err != nil {
					t.Fatal(err)
				}
				_, err = s.FromCache(c, id, nil, nil)
				if err != nil && s.Ready(id) {
					t.Error("a refused entry is marked staged")
				}
			case "lock":
				_, err = c.ReadLock("k")
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want a refusal containing %q", err, tc.want)
			case tc.want != "" && tc.op != "stage" && !errors.Is(err, ErrUntrusted) && !strings.Contains(tc.want, "symbolic"):
				t.Errorf("refusal is not ErrUntrusted: %v", err)
			}
		})
	}
}

// primaryGroup is the name of uid's primary group.
func primaryGroup(t *testing.T, uid int) string {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		t.Skipf("no user %d: %v", uid, err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Skipf("no group %s: %v", u.Gid, err)
	}
	return g.Name
}

// chown gives rel (under the cache's v1/, ID replaced) to the other user.
func chown(rel string) func(*testing.T, Cache, string) {
	return func(t *testing.T, c Cache, id string) {
		if err := os.Lchown(filepath.Join(c.Root, strings.ReplaceAll(rel, "ID", id)), other, other); err != nil {
			t.Fatal(err)
		}
	}
}

func chmod(rel string, mode os.FileMode, gid int) func(*testing.T, Cache, string) {
	return func(t *testing.T, c Cache, id string) {
		p := filepath.Join(c.Root, strings.ReplaceAll(rel, "ID", id))
		if err := os.Lchown(p, -1, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// republish is the attack of issue 11 item 2: B publishes his own entry
// under A's env ID (here: A's entry, handed to B, its meta edited).
func republish(t *testing.T, c Cache, id string) {
	entry := c.Entry(id)
	os.WriteFile(filepath.Join(entry, metaName), []byte(`{"id":"`+id+`","manager":"venv","kind":"venv"}`), 0o644)
	chownTree(t, entry, other, other)
}

func symlinkArchive(t *testing.T, c Cache, id string) {
	p := filepath.Join(c.Entry(id), archiveName)
	if err := os.Rename(p, p+".real"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(archiveName+".real", p); err != nil {
		t.Fatal(err)
	}
}

// nobodyDirVar tells a test run by asNobody where its world is.
const nobodyDirVar = "SENV_TEST_NOBODY_DIR"

// asNobody runs the calling test again as nobody: as root it makes a dir
// owned by nobody, lets setup (still root) prepare it, runs the test
// binary as nobody on the test alone and fails unless it passes; then it
// returns "". In that run it returns the dir. Not root and not that run:
// skip.
func asNobody(t *testing.T, setup func(dir string)) string {
	t.Helper()
	if dir := os.Getenv(nobodyDirVar); dir != "" {
		if os.Getuid() == 0 {
			t.Skip("run as nobody by its parent")
		}
		return dir
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to run as another user")
	}
	dir, err := os.MkdirTemp("", "senv-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeTree(dir) })
	self, _ := os.ReadFile(os.Args[0])
	bin := filepath.Join(dir, "envs.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(dir, other, other)
	setup(dir)
	cmd := exec.Command(bin, "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), nobodyDirVar+"="+dir, "HOME="+dir)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: other, Gid: other}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	return ""
}

// TestCacheTrustAsNobody: the trust check as a user who is not root. Root
// prepares a cache that nobody owns, with an entry republished by a third
// user (uid 65533); nobody stages its own entries and refuses that one,
// and ls shows it as untrusted.
func TestCacheTrustAsNobody(t *testing.T) {
	const third = 65533
	theirs := "fedcba9876543210"
	dir := asNobody(t, func(dir string) {
		trust, _ := NewTrust([]string{"65534"}) // root, setting up in nobody's dir
		c, err := OpenCache(filepath.Join(dir, "cache"), trust)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Publish(&Meta{ID: theirs, Manager: "venv"}, testLock(), tree(t)); err != nil {
			t.Fatal(err)
		}
		chownTree(t, filepath.Join(dir, "cache"), other, other)
		chownTree(t, c.Entry(theirs), third, third)
	})
	if dir == "" {
		return
	}
	c, err := OpenCache(filepath.Join(dir, "cache"), nil)
	if err != nil {
		t.Fatal(err)
	}
	mine := "0123456789abcdef"
	if _, err := c.Publish(&Meta{ID: mine, Manager: "venv"}, testLock(), tree(t)); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStage(filepath.Join(dir, "stage"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.FromCache(c, mine, nil, nil); err != nil {
		t.Errorf("own entry: %v", err)
	}
	_, err = s.FromCache(c, theirs, nil, nil)
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "(uid 65533), whom you do not trust") {
		t.Errorf("entry of uid %d: %v", third, err)
	}
	metas, _ := c.List()
	for _, m := range metas {
		if m.ID == theirs && !m.Untrusted {
			t.Errorf("List: %+v, want it untrusted", m)
		}
	}
}
