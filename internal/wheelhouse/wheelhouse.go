// Package wheelhouse builds tiny, valid pure-Python wheels for tests and
// benchmarks: a package with a version, dependencies, a console script and,
// optionally, many small modules. A directory of them is a site wheelhouse
// for `pip install --no-index --find-links DIR`.
package wheelhouse

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Wheel describes one wheel to build.
type Wheel struct {
	Name    string   // distribution and import name, e.g. "alpha"
	Version string   // e.g. "1.0"
	Deps    []string // Requires-Dist lines, e.g. "beta>=1"
	Modules int      // extra empty modules alpha/m0.py ... (for size scaling)
	Tag     string   // wheel tag; default "py3-none-any"
}

// Build writes w into dir and returns the wheel's path. The package has
// __version__, a main() that prints "hello from NAME VERSION", and a console
// script NAME-hello.
func Build(dir string, w Wheel) (string, error) {
	mod := strings.ToLower(strings.NewReplacer("-", "_", ".", "_").Replace(w.Name)) // import and file name
	files := [][2]string{{mod + "/__init__.py",
		fmt.Sprintf("__version__ = %q\n\ndef main():\n    print(\"hello from %s %s\")\n", w.Version, w.Name, w.Version)}}
	for i := 0; i < w.Modules; i++ {
		files = append(files, [2]string{fmt.Sprintf("%s/m%d.py", mod, i), fmt.Sprintf("X = %d\n", i)})
	}
	if w.Tag == "" {
		w.Tag = "py3-none-any"
	}
	di := fmt.Sprintf("%s-%s.dist-info", mod, w.Version)
	var meta strings.Builder
	fmt.Fprintf(&meta, "Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: test package\n", w.Name, w.Version)
	extras := map[string]bool{}
	for _, d := range w.Deps {
		fmt.Fprintf(&meta, "Requires-Dist: %s\n", d)
		if m := extraRe.FindStringSubmatch(d); m != nil && !extras[m[1]] {
			extras[m[1]] = true
			fmt.Fprintf(&meta, "Provides-Extra: %s\n", m[1]) // pip ignores an extra not provided
		}
	}
	files = append(files,
		[2]string{di + "/METADATA", meta.String()},
		[2]string{di + "/WHEEL", "Wheel-Version: 1.0\nGenerator: senv-wheelhouse\nRoot-Is-Purelib: true\nTag: " + w.Tag + "\n"},
		[2]string{di + "/entry_points.txt", fmt.Sprintf("[console_scripts]\n%s-hello = %s:main\n", w.Name, mod)},
	)
	var record strings.Builder
	for _, f := range files {
		sum := sha256.Sum256([]byte(f[1]))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f[0], base64.RawURLEncoding.EncodeToString(sum[:]), len(f[1]))
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", di)
	files = append(files, [2]string{di + "/RECORD", record.String()})

	path := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.whl", mod, w.Version, w.Tag))
	out, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("failed to create wheel: %w", err)
	}
	zw := zip.NewWriter(out)
	for _, f := range files {
		fw, err := zw.Create(f[0])
		if err == nil {
			_, err = fw.Write([]byte(f[1]))
		}
		if err != nil {
			out.Close()
			return "", fmt.Errorf("failed to write wheel %s: %w", path, err)
		}
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return "", fmt.Errorf("failed to write wheel %s: %w", path, err)
	}
	return path, out.Close()
}

var extraRe = regexp.MustCompile(`extra\s*==\s*["']([^"']+)["']`)

// Standard is the wheelhouse most tests use: alpha 1.0 depends on beta>=1,
// beta has 1.0 and 1.2, gamma 2.0 stands alone.
var Standard = []Wheel{
	{Name: "alpha", Version: "1.0", Deps: []string{"beta>=1"}},
	{Name: "beta", Version: "1.0"},
	{Name: "beta", Version: "1.2"},
	{Name: "gamma", Version: "2.0"},
}

// BuildAll writes every wheel into dir (created if needed) and returns dir.
func BuildAll(dir string, wheels []Wheel) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("failed to create wheelhouse: %w", err)
	}
	for _, w := range wheels {
		if _, err := Build(dir, w); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// SourceTree writes a project directory dir/NAME for w (pyproject.toml and
// the package) built by a tiny in-tree PEP 517 backend, so that pip and uv
// can build and install it, editable too (PEP 660), with no index and no
// setuptools. It returns the directory.
func SourceTree(dir string, w Wheel) (string, error) {
	root := filepath.Join(dir, w.Name)
	deps := make([]string, len(w.Deps))
	for i, d := range w.Deps {
		deps[i] = fmt.Sprintf("%q", d)
	}
	files := map[string]string{
		"pyproject.toml": fmt.Sprintf("[build-system]\nrequires = []\nbuild-backend = \"tinybackend\"\nbackend-path = [\"_backend\"]\n\n"+
			"[project]\nname = %q\nversion = %q\ndependencies = [%s]\n", w.Name, w.Version, strings.Join(deps, ", ")),
		w.Name + "/__init__.py":   fmt.Sprintf("__version__ = %q\n", w.Version),
		"_backend/tinybackend.py": tinyBackend,
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", fmt.Errorf("failed to write source tree: %w", err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return "", fmt.Errorf("failed to write source tree: %w", err)
		}
	}
	return root, nil
}

// tinyBackend is a PEP 517/660 build backend in one file: it packs the
// package directory named like the project into a wheel, or, for an
// editable install, a wheel whose .pth file points at the tree.
const tinyBackend = `"""A tiny PEP 517 build backend for tests (written by senv's wheelhouse)."""
import base64, hashlib, os, tomllib, zipfile


def _project():
    with open("pyproject.toml", "rb") as f:
        p = tomllib.load(f)["project"]
    deps = p.get("dependencies", [])
    if "dependencies" in p.get("dynamic", []):
        # dynamic dependencies, as setuptools reads them from a file
        with open("deps.txt") as f:
            deps = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    return p["name"], p["version"], deps


def _metadata():
    name, version, deps = _project()
    return "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version) + "".join("Requires-Dist: %s\n" % d for d in deps)


def _wheel(wheel_directory, files):
    name, version, _ = _project()
    di = "%s-%s.dist-info" % (name, version)
    files[di + "/METADATA"] = _metadata().encode()
    files[di + "/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: tiny\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = ""
    for p, b in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b"=").decode()
        record += "%s,sha256=%s,%d\n" % (p, digest, len(b))
    record += di + "/RECORD,,\n"
    fn = "%s-%s-py3-none-any.whl" % (name, version)
    with zipfile.ZipFile(os.path.join(wheel_directory, fn), "w") as z:
        for p, b in files.items():
            z.writestr(p, b)
        z.writestr(di + "/RECORD", record)
    return fn


def get_requires_for_build_wheel(config_settings=None):
    return []


get_requires_for_build_editable = get_requires_for_build_wheel


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name, version, _ = _project()
    di = "%s-%s.dist-info" % (name, version)
    os.makedirs(os.path.join(metadata_directory, di), exist_ok=True)
    with open(os.path.join(metadata_directory, di, "METADATA"), "w") as f:
        f.write(_metadata())
    return di


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, _, _ = _project()
    files = {}
    for root, _, names in os.walk(name):
        for n in names:
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                files[p] = f.read()
    return _wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    name, _, _ = _project()
    return _wheel(wheel_directory, {"_%s_editable.pth" % name: (os.getcwd() + "\n").encode()})
`

// IsolatePip keeps the machine's pip configuration (PIP_* variables,
// pip.conf files) away from the real pip and uv that tests run against a
// wheelhouse, so that they resolve from it alone: it unsets every PIP_*
// variable and points PIP_CONFIG_FILE at /dev/null. Call it from TestMain,
// before any test runs; a test of pip's configuration sets its own.
func IsolatePip() {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PIP_") {
			os.Unsetenv(k)
		}
	}
	os.Setenv("PIP_CONFIG_FILE", os.DevNull)
}
