package config

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/senv-hpc/senv/internal/inputfile"
)

// Config is the effective configuration. Use Load to make one.
type Config struct {
	CacheDir       string        // shared cache of packed environments
	SiteCache      []string      // read-only site cache tiers, searched in order before CacheDir; absolute paths
	StageDir       string        // node-local directory environments run from
	PythonModule   string        // module for `#ENV python X`, "{version}" replaced; "" for none
	ModuleInit     []string      // module system init scripts for sh, first readable wins
	DefaultManager string        // manager when the spec names none; "" for automatic
	Python         string        // base interpreter when the spec names no python version
	UV             string        // uv binary
	Conda          string        // conda binary
	Mamba          string        // mamba binary
	Micromamba     string        // micromamba binary
	IndexURL       string        // pip/uv index for every build
	ExtraIndexURL  []string      // extra pip/uv indexes for every build
	FindLinks      []string      // site wheelhouses for every build
	NoIndex        bool          // use only FindLinks
	LockTimeout    time.Duration // longest wait for another node's build
	BuildAt        string        // "submit" or "job": where `senv sbatch` builds
	PrologTimeout  time.Duration // hard deadline of `senv prolog`
	EpilogGC       time.Duration // `senv epilog` removes the job user's staged envs unused this long; 0: never
	TrustedOwners  []string      // besides you and root, whose cache entries and dirs senv runs: "alice", "1001", "group:hpclab"
	MountDir       string        // root-owned node-local dir where the Prolog mounts env images; "" for never
	MountKeep      time.Duration // an image no job holds stays mounted this long, for the node's next jobs
	ImageMinSize   int64         // `senv build` into a site cache makes an image of envs this big; 0 for never

	// Source maps each setting key to where its value came from.
	Source map[string]string
}

// Setting declares one configuration key.
type Setting struct {
	Key     string
	Help    string
	Default func(getenv func(string) string) string
	set     func(c *Config, v string) error
	get     func(c *Config) string
}

// EnvVar is the environment variable that sets the key: SENV_ and the key
// in upper case.
func (s Setting) EnvVar() string { return "SENV_" + strings.ToUpper(s.Key) }

func fixed(v string) func(func(string) string) string {
	return func(func(string) string) string { return v }
}

// access reads and writes one field of a Config as text.
type access struct {
	set func(c *Config, v string) error
	get func(c *Config) string
}

func str(p func(*Config) *string) access {
	return access{func(c *Config, v string) error { *p(c) = v; return nil }, func(c *Config) string { return *p(c) }}
}

func list(p func(*Config) *[]string) access {
	return access{func(c *Config, v string) error { *p(c) = splitList(v); return nil },
		func(c *Config) string { return strings.Join(*p(c), " ") }}
}

// splitList reads a list setting: a TOML array arrives one item per line;
// an environment variable separates items by commas or white space (never
// ':', which URLs hold).
func splitList(v string) []string {
	sep := func(r rune) bool { return r == '\n' }
	if !strings.Contains(v, "\n") {
		sep = func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }
	}
	var out []string
	for _, f := range strings.FieldsFunc(v, sep) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func duration(p func(*Config) *time.Duration) access {
	return access{func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		*p(c) = d
		return err
	}, func(c *Config) string { return p(c).String() }}
}

func setting(key, help string, def func(func(string) string) string, a access) Setting {
	return Setting{Key: key, Help: help, Default: def, set: a.set, get: a.get}
}

// Settings is every configuration key, in the order doctor prints them.
var Settings = []Setting{
	setting("cache_dir", "shared cache of packed environments", defaultCacheDir,
		str(func(c *Config) *string { return &c.CacheDir })),
	setting("site_cache", "read-only site caches that admins publish into, searched in order before cache_dir (absolute paths)", fixed(""), access{
		func(c *Config, v string) error {
			c.SiteCache = splitList(v)
			for _, d := range c.SiteCache {
				if !filepath.IsAbs(d) {
					return fmt.Errorf("%q is not an absolute path (a site cache is the same directory for every user)", d)
				}
			}
			return nil
		},
		func(c *Config) string { return strings.Join(c.SiteCache, " ") }}),
	setting("stage_dir", "node-local directory environments run from ({jobid}: the Slurm job's ID; outside a job the default)", func(func(string) string) string { return fmt.Sprintf("/tmp/senv-%d", os.Getuid()) },
		str(func(c *Config) *string { return &c.StageDir })),
	setting("python_module", "module loaded for `#ENV python X` ({version} is replaced); empty: none", fixed(""),
		str(func(c *Config) *string { return &c.PythonModule })),
	setting("module_init", "module system init scripts (sh), first readable wins", fixed(strings.Join(DefaultModuleInit, "\n")),
		list(func(c *Config) *[]string { return &c.ModuleInit })),
	setting("default_manager", "manager when the spec names none (venv, uv, conda, mamba, micromamba); empty: automatic", fixed(""),
		str(func(c *Config) *string { return &c.DefaultManager })),
	setting("python", "base interpreter when the spec names no python version", fixed("python3"),
		str(func(c *Config) *string { return &c.Python })),
	setting("uv", "uv binary", fixed("uv"),
		str(func(c *Config) *string { return &c.UV })),
	setting("conda", "conda binary", fixed("conda"),
		str(func(c *Config) *string { return &c.Conda })),
	setting("mamba", "mamba binary", fixed("mamba"),
		str(func(c *Config) *string { return &c.Mamba })),
	setting("micromamba", "micromamba binary", fixed("micromamba"),
		str(func(c *Config) *string { return &c.Micromamba })),
	setting("index_url", "pip/uv index for every build", fixed(""),
		str(func(c *Config) *string { return &c.IndexURL })),
	setting("extra_index_url", "extra pip/uv indexes for every build", fixed(""),
		list(func(c *Config) *[]string { return &c.ExtraIndexURL })),
	setting("find_links", "site wheelhouses for every build", fixed(""),
		list(func(c *Config) *[]string { return &c.FindLinks })),
	setting("no_index", "use only find_links (true/false)", fixed("false"), access{
		func(c *Config, v string) (err error) { c.NoIndex, err = strconv.ParseBool(v); return err },
		func(c *Config) string { return strconv.FormatBool(c.NoIndex) }}),
	setting("lock_timeout", "longest wait for another build of the same environment", fixed("30m"),
		duration(func(c *Config) *time.Duration { return &c.LockTimeout })),
	setting("build_at", "where `senv sbatch` builds: submit or job", fixed("submit"), access{
		func(c *Config, v string) error {
			if v != "submit" && v != "job" {
				return fmt.Errorf("must be submit or job")
			}
			c.BuildAt = v
			return nil
		},
		func(c *Config) string { return c.BuildAt }}),
	setting("prolog_timeout", "hard deadline of `senv prolog` (it then gives up and exits 0)", fixed("5m"),
		duration(func(c *Config) *time.Duration { return &c.PrologTimeout })),
	setting("epilog_gc", "`senv epilog` removes the job user's staged envs unused this long on the node; 0: never", fixed("0s"),
		duration(func(c *Config) *time.Duration { return &c.EpilogGC })),
	setting("trusted_owners", "besides you and root, whose cache entries (and the dirs above them) senv runs: user names or uids, \"group:NAME\" for a group's members", fixed(""),
		list(func(c *Config) *[]string { return &c.TrustedOwners })),
	setting("mount_dir", "root-owned node-local dir where the Prolog mounts env images (at mount_dir/ID) instead of staging them; empty: never mount", fixed("/run/senv"), access{
		func(c *Config, v string) error {
			if v != "" && !filepath.IsAbs(v) {
				return fmt.Errorf("%q is not an absolute path", v)
			}
			c.MountDir = v
			return nil
		},
		func(c *Config) string { return c.MountDir }}),
	setting("mount_keep", "an Epilog leaves an image that no job holds mounted at least this long (until a later Epilog), so the node's next jobs of the env may find its files in memory; 0: unmount at once", fixed("10m"), access{
		func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err == nil && d < 0 {
				err = fmt.Errorf("%s is negative; 0 unmounts at once", v)
			}
			c.MountKeep = d
			return err
		},
		func(c *Config) string { return c.MountKeep.String() }}),
	setting("image_min_size", "`senv build` into a site cache also makes a squashfs image of envs at least this big (e.g. 1G); 0: only with --image", fixed("1G"), access{
		func(c *Config, v string) (err error) {
			if strings.TrimSpace(v) == "0" {
				c.ImageMinSize = 0
				return nil
			}
			c.ImageMinSize, err = ParseSize(v)
			return err
		},
		func(c *Config) string {
			if c.ImageMinSize == 0 {
				return "0"
			}
			return strconv.FormatInt(c.ImageMinSize, 10)
		}}),
}

// ParseSize reads a size in bytes: "50G", "500M", "1.5T", "4096"; K, M, G,
// T (optionally followed by "i", "B" or "iB", any case) are powers of 1024,
// as df -h and quota tools print them.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := 1.0
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGTP", t[n-1]); i >= 0 {
			mult = float64(int64(1) << (10 * (i + 1)))
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || v*mult >= 1<<62 {
		return 0, fmt.Errorf("%q is not a size (write e.g. 50G, 500M, 1.5T)", s)
	}
	return int64(v * mult), nil
}

// DefaultModuleInit lists the usual places of Lmod's and Environment
// Modules' sh init scripts.
var DefaultModuleInit = []string{
	"/usr/share/lmod/lmod/init/sh",
	"/opt/lmod/lmod/init/sh",
	"/usr/share/modules/init/sh",
	"/etc/profile.d/lmod.sh",
	"/etc/profile.d/modules.sh",
}

func defaultCacheDir(getenv func(string) string) string {
	if x := getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "senv")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".cache", "senv")
}

// Files returns the configuration files read, in order, for an environment.
func Files(getenv func(string) string) []string {
	files := []string{"/etc/senv/config.toml"}
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		files = append(files, filepath.Join(x, "senv", "config.toml"))
	} else if home := getenv("HOME"); home != "" {
		files = append(files, filepath.Join(home, ".config", "senv", "config.toml"))
	}
	if f := getenv("SENV_CONFIG"); f != "" {
		files = append(files, f)
	}
	return files
}

// Load builds the effective configuration from defaults, the files of
// Files, SENV_* variables and finally flags (key → value). A missing file is
// skipped; an unreadable or malformed one, or an unknown key, is an error.
func Load(getenv func(string) string, flags map[string]string) (*Config, error) {
	c := &Config{Source: map[string]string{}}
	for _, s := range Settings {
		if err := s.set(c, s.Default(getenv)); err != nil {
			return nil, fmt.Errorf("failed to set default %s: %w", s.Key, err)
		}
		c.Source[s.Key] = "default"
	}
	for _, f := range Files(getenv) {
		if err := c.loadFile(f); err != nil {
			return nil, err
		}
	}
	for _, s := range Settings {
		if v, ok := lookup(getenv, s.EnvVar()); ok {
			if err := s.set(c, v); err != nil {
				return nil, fmt.Errorf("failed to read %s=%q: %w", s.EnvVar(), v, err)
			}
			c.Source[s.Key] = "env " + s.EnvVar()
		}
	}
	for k, v := range flags {
		s, ok := find(k)
		if !ok {
			return nil, fmt.Errorf("unknown config key %q", k)
		}
		if err := s.set(c, v); err != nil {
			return nil, fmt.Errorf("failed to read flag --%s=%q: %w", strings.ReplaceAll(k, "_", "-"), v, err)
		}
		c.Source[k] = "flag"
	}
	c.CacheDir, c.StageDir = expandUser(c.CacheDir), expandJob(expandUser(c.StageDir), getenv("SLURM_JOB_ID"))
	return c, nil
}

// JobPlaceholder in stage_dir is replaced by the Slurm job's ID: a site
// whose Prolog makes a scratch dir per job (the job's $SLURM_TMPDIR) stages
// envs into it with stage_dir = "/localscratch/{user}.{jobid}/senv".
const JobPlaceholder = "{jobid}"

// expandJob replaces JobPlaceholder in a stage dir with jobID. Outside a
// job (no or no numeric SLURM_JOB_ID: a login node, where `senv sbatch`
// builds) there is no job's dir, and the default stage dir stands in.
func expandJob(dir, jobID string) string {
	if !strings.Contains(dir, JobPlaceholder) {
		return dir
	}
	if _, err := strconv.ParseUint(jobID, 10, 32); err != nil {
		return fmt.Sprintf("/tmp/senv-%d", os.Getuid())
	}
	return strings.ReplaceAll(dir, JobPlaceholder, jobID)
}

// EnvSettings returns the settings that SENV_* variables set in getenv, as
// key → value, as given (before {uid} and {user} are expanded). A process
// that cannot see this environment, such as the job user's half of a Slurm
// hook, passes them to Load as flags to take the same configuration.
func EnvSettings(getenv func(string) string) map[string]string {
	m := map[string]string{}
	for _, s := range Settings {
		if v, ok := lookup(getenv, s.EnvVar()); ok {
			m[s.Key] = v
		}
	}
	return m
}

// expandUser replaces {uid} and {user} in a path, so that one site file
// can give every user a directory of their own.
func expandUser(p string) string {
	if !strings.Contains(p, "{") {
		return p
	}
	name := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return strings.NewReplacer("{uid}", strconv.Itoa(os.Getuid()), "{user}", name).Replace(p)
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func find(key string) (Setting, bool) {
	for _, s := range Settings {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// maxConfigSize bounds a config file: a site's is a few hundred bytes.
const maxConfigSize = 1 << 20

func (c *Config) loadFile(path string) error {
	var raw map[string]any
	data, err := inputfile.Read(path, maxConfigSize)
	if os.IsNotExist(err) {
		return nil
	}
	if err == nil {
		err = inputfile.CheckTOML(data)
	}
	if err == nil {
		_, err = toml.Decode(string(data), &raw)
	}
	if err != nil {
		return fmt.Errorf("failed to read config %s: %w", path, err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := find(k)
		if !ok {
			return fmt.Errorf("failed to read config %s: unknown key %q", path, k)
		}
		v, err := scalar(raw[k])
		if err == nil {
			err = s.set(c, v)
		}
		if err != nil {
			return fmt.Errorf("failed to read config %s: key %s: %w", path, k, err)
		}
		c.Source[k] = path
	}
	return nil
}

// scalar turns a TOML value into the string form the setters take.
func scalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("list items must be strings")
			}
			parts[i] = s
		}
		return strings.Join(parts, "\n") + "\n", nil
	}
	return "", fmt.Errorf("unsupported value %v", v)
}

// Value returns the effective value of a key as text, for doctor.
func (c *Config) Value(key string) string {
	s, ok := find(key)
	if !ok {
		return ""
	}
	return s.get(c)
}
