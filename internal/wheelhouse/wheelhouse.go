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
	files := [][2]string{{w.Name + "/__init__.py",
		fmt.Sprintf("__version__ = %q\n\ndef main():\n    print(\"hello from %s %s\")\n", w.Version, w.Name, w.Version)}}
	for i := 0; i < w.Modules; i++ {
		files = append(files, [2]string{fmt.Sprintf("%s/m%d.py", w.Name, i), fmt.Sprintf("X = %d\n", i)})
	}
	if w.Tag == "" {
		w.Tag = "py3-none-any"
	}
	di := fmt.Sprintf("%s-%s.dist-info", w.Name, w.Version)
	var meta strings.Builder
	fmt.Fprintf(&meta, "Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: test package\n", w.Name, w.Version)
	for _, d := range w.Deps {
		fmt.Fprintf(&meta, "Requires-Dist: %s\n", d)
	}
	files = append(files,
		[2]string{di + "/METADATA", meta.String()},
		[2]string{di + "/WHEEL", "Wheel-Version: 1.0\nGenerator: senv-wheelhouse\nRoot-Is-Purelib: true\nTag: " + w.Tag + "\n"},
		[2]string{di + "/entry_points.txt", fmt.Sprintf("[console_scripts]\n%s-hello = %s:main\n", w.Name, w.Name)},
	)
	var record strings.Builder
	for _, f := range files {
		sum := sha256.Sum256([]byte(f[1]))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f[0], base64.RawURLEncoding.EncodeToString(sum[:]), len(f[1]))
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", di)
	files = append(files, [2]string{di + "/RECORD", record.String()})

	path := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.whl", w.Name, w.Version, w.Tag))
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
