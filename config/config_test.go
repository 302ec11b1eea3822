package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPrecedence: defaults < /etc file < user file < $SENV_CONFIG file <
// SENV_* variables < flags, and Source says which won.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	userFile := filepath.Join(dir, "xdg", "senv", "config.toml")
	os.MkdirAll(filepath.Dir(userFile), 0o755)
	os.WriteFile(userFile, []byte("cache_dir = \"/from/user\"\nstage_dir = \"/from/user\"\nlock_timeout = \"1m\"\nfind_links = [\"/a\", \"/b\"]\n"), 0o644)
	extra := filepath.Join(dir, "extra.toml")
	os.WriteFile(extra, []byte("stage_dir = \"/from/extra\"\nbuild_at = \"job\"\n"), 0o644)
	env := map[string]string{"HOME": dir, "XDG_CONFIG_HOME": filepath.Join(dir, "xdg"), "SENV_CONFIG": extra, "SENV_LOCK_TIMEOUT": "2m", "SENV_UV": "/opt/uv"}
	c, err := Load(func(k string) string { return env[k] }, map[string]string{"uv": "/flag/uv"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ key, value, source string }{
		{"cache_dir", "/from/user", userFile},
		{"stage_dir", "/from/extra", extra},
		{"build_at", "job", extra},
		{"lock_timeout", "2m0s", "env SENV_LOCK_TIMEOUT"},
		{"uv", "/flag/uv", "flag"},
		{"find_links", "/a /b", userFile},
		{"python", "python3", "default"},
	}
	for _, tc := range cases {
		if got := c.Value(tc.key); got != tc.value || c.Source[tc.key] != tc.source {
			t.Errorf("%s = %q from %q, want %q from %q", tc.key, got, c.Source[tc.key], tc.value, tc.source)
		}
	}
	if c.LockTimeout != 2*time.Minute {
		t.Errorf("LockTimeout = %s", c.LockTimeout)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load(func(k string) string { return map[string]string{"HOME": "/home/u"}[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.CacheDir != "/home/u/.cache/senv" || c.StageDir != filepath.Join("/tmp", "senv-"+itoa(os.Getuid())) || c.BuildAt != "submit" {
		t.Errorf("defaults: cache %s stage %s build_at %s", c.CacheDir, c.StageDir, c.BuildAt)
	}
	c, _ = Load(func(k string) string { return map[string]string{"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg"}[k] }, nil)
	if c.CacheDir != "/xdg/senv" {
		t.Errorf("XDG_CACHE_HOME ignored: %s", c.CacheDir)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	bad := map[string]string{
		"unknown key":         "cache_dri = \"/x\"\n",
		"bad duration":        "lock_timeout = \"soon\"\n",
		"bad build_at":        "build_at = \"later\"\n",
		"malformed":           "cache_dir = \n",
		"non-string in list":  "find_links = [1]\n",
		"relative mount_dir":  "mount_dir = \"run/senv\"\n",
		"bad image size":      "image_min_size = \"big\"\n",
		"negative mount_keep": "mount_keep = \"-1m\"\n",
	}
	for name, content := range bad {
		f := filepath.Join(dir, name+".toml")
		os.WriteFile(f, []byte(content), 0o644)
		if _, err := Load(func(k string) string { return map[string]string{"SENV_CONFIG": f}[k] }, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Load(func(string) string { return "" }, map[string]string{"nope": "1"}); err == nil {
		t.Error("unknown flag key accepted")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestExpandUser(t *testing.T) {
	c, err := Load(func(string) string { return "" }, map[string]string{"stage_dir": "/local/{uid}/senv", "cache_dir": "/shared/{user}"})
	if err != nil {
		t.Fatal(err)
	}
	if c.StageDir != "/local/"+strconv.Itoa(os.Getuid())+"/senv" || strings.Contains(c.CacheDir, "{") {
		t.Errorf("stage %s cache %s", c.StageDir, c.CacheDir)
	}
}

// TestExpandJob: {jobid} in stage_dir is the job's ID inside a Slurm job; outside one (or
// with a SLURM_JOB_ID that is not a number, which must not reach a path) the default.
func TestExpandJob(t *testing.T) {
	def := "/tmp/senv-" + strconv.Itoa(os.Getuid())
	for _, tc := range []struct{ job, want string }{
		{"4711", "/local/u.4711/senv"},
		{"", def},
		{"../../etc", def},
	} {
		getenv := func(k string) string {
			if k == "SLURM_JOB_ID" {
				return tc.job
			}
			return ""
		}
		c, err := Load(getenv, map[string]string{"stage_dir": "/local/u.{jobid}/senv"})
		if err != nil {
			t.Fatal(err)
		}
		if c.StageDir != tc.want {
			t.Errorf("SLURM_JOB_ID=%q: stage_dir %s, want %s", tc.job, c.StageDir, tc.want)
		}
	}
}

// TestListsKeepURLs: list settings hold URLs and paths with spaces.
func TestListsKeepURLs(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(f, []byte("extra_index_url = [\"https://download.pytorch.org/whl/cu121\"]\nfind_links = [\"/shared/my wheels\", \"file:///w\"]\n"), 0o644)
	c, err := Load(func(k string) string { return map[string]string{"SENV_CONFIG": f}[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.ExtraIndexURL, []string{"https://download.pytorch.org/whl/cu121"}) || !reflect.DeepEqual(c.FindLinks, []string{"/shared/my wheels", "file:///w"}) {
		t.Errorf("extra_index_url %q find_links %q", c.ExtraIndexURL, c.FindLinks)
	}
	c, _ = Load(func(k string) string {
		return map[string]string{"SENV_EXTRA_INDEX_URL": "https://x.org/simple,https://y.org/simple"}[k]
	}, nil)
	if !reflect.DeepEqual(c.ExtraIndexURL, []string{"https://x.org/simple", "https://y.org/simple"}) {
		t.Errorf("from the environment: %q", c.ExtraIndexURL)
	}
}

func TestDefaultModuleInitIsAList(t *testing.T) {
	c, err := Load(func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.ModuleInit, DefaultModuleInit) {
		t.Errorf("module_init = %q", c.ModuleInit)
	}
}

// TestEnvSettings: the SENV_* variables come back raw, {uid} unexpanded, so
// that Load in another user's process expands them for that user.
func TestEnvSettings(t *testing.T) {
	env := map[string]string{"SENV_EPILOG_GC": "168h", "SENV_STAGE_DIR": "/local/{uid}", "SENV_UV": "", "HOME": "/root"}
	got := EnvSettings(func(k string) string { return env[k] })
	want := map[string]string{"epilog_gc": "168h", "stage_dir": "/local/{uid}"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EnvSettings = %v, want %v", got, want)
	}
}

// TestTrustedOwners: the trust list reads from a file as a TOML array and
// from the environment as a comma list.
func TestTrustedOwners(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(f, []byte("trusted_owners = [\"alice\", \"group:hpclab\"]\n"), 0o644)
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"default", nil, nil},
		{"file", map[string]string{"SENV_CONFIG": f}, []string{"alice", "group:hpclab"}},
		{"env", map[string]string{"SENV_TRUSTED_OWNERS": "senvadm,group:2000"}, []string{"senvadm", "group:2000"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(func(k string) string { return tc.env[k] }, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.TrustedOwners, tc.want) {
				t.Errorf("trusted_owners = %q, want %q", c.TrustedOwners, tc.want)
			}
		})
	}
}

// TestConfigFileBounded: a config file that is not a regular file, too
// large, or nested deep enough to make the TOML parser blow up is refused
// at once (issue 11 items 3 and 4).
func TestConfigFileBounded(t *testing.T) {
	dir := t.TempDir()
	bomb := filepath.Join(dir, "bomb.toml")
	os.WriteFile(bomb, []byte("x = "+strings.Repeat("{a=", 8000)+"1"+strings.Repeat("}", 8000)+"\n"), 0o644)
	big := filepath.Join(dir, "big.toml")
	os.WriteFile(big, []byte(strings.Repeat("# padding\n", 120000)), 0o644)
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{bomb: "nested more than", big: "larger than", fifo: "not a regular file", "/dev/zero": "not a regular file"} {
		_, err := Load(func(k string) string { return map[string]string{"SENV_CONFIG": name}[k] }, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %s: %v, want %q", name, err, want)
		}
	}
}

// TestMountSettings: mount_dir, mount_keep and image_min_size, their
// defaults and their off values.
func TestMountSettings(t *testing.T) {
	for _, tc := range []struct {
		env      map[string]string
		mountDir string
		keep     time.Duration
		minSize  int64
	}{
		{map[string]string{}, "/run/senv", 10 * time.Minute, 1 << 30},
		{map[string]string{"SENV_CONFIG": "{OFF}"}, "", 0, 0},
		{map[string]string{"SENV_MOUNT_DIR": "/local/senv-mnt", "SENV_MOUNT_KEEP": "1h", "SENV_IMAGE_MIN_SIZE": "500M"}, "/local/senv-mnt", time.Hour, 500 << 20},
	} {
		off := filepath.Join(t.TempDir(), "off.toml")
		if err := os.WriteFile(off, []byte("mount_dir = \"\"\nmount_keep = \"0s\"\nimage_min_size = \"0\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(func(k string) string { return strings.ReplaceAll(tc.env[k], "{OFF}", off) }, nil)
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if c.MountDir != tc.mountDir || c.MountKeep != tc.keep || c.ImageMinSize != tc.minSize {
			t.Errorf("%v: mount_dir %q mount_keep %s image_min_size %d, want %q %s %d", tc.env, c.MountDir, c.MountKeep, c.ImageMinSize, tc.mountDir, tc.keep, tc.minSize)
		}
	}
}
