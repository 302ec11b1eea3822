package solver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/senv-hpc/senv/internal/inputfile"
	"github.com/senv-hpc/senv/jobspec"
	"gopkg.in/yaml.v3"
)

// envYAMLKeys are the top-level keys of an environment.yml that conda
// knows; anything else is warned about and ignored, as conda ignores it.
var envYAMLKeys = map[string]bool{"name": true, "prefix": true, "channels": true, "dependencies": true, "variables": true}

var (
	yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): `)
	condaOpRe  = regexp.MustCompile(`^[<>=!~]`)
)

// addEnvironmentYAML reads a conda environment.yml: channels, conda
// dependencies (each as the match spec conda would read), the `pip:`
// entries (read as a requirements file by addRequirementsFile), and
// `variables:` (exported on activation, as `conda activate` does). name and
// prefix are ignored with a warning: senv decides where the env lives.
// Errors are *jobspec.Error at the file's line.
func (s *Spec) addEnvironmentYAML(path string) error {
	data, err := inputfile.Read(path, maxLockSize)
	if err != nil {
		return fileError("file", path, err)
	}
	bad := func(line int, msg, hint string) error {
		return &jobspec.Error{Pos: jobspec.Pos{File: path, Line: line}, Key: "file", Msg: msg, Hint: hint}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 0
		msg := err.Error()
		if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = strings.TrimPrefix(msg, m[0])
		}
		return bad(line, "not valid YAML: "+strings.TrimPrefix(msg, "yaml: "), "an environment.yml is a mapping with channels:, dependencies: and variables:")
	}
	if len(doc.Content) == 0 {
		return bad(0, "empty environment file", "write `dependencies:` with at least one package")
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return bad(top.Line, "not a mapping", "an environment.yml is a mapping with channels:, dependencies: and variables:")
	}
	if hasKey(top, "package") && hasKey(top, "metadata") {
		return s.addCondaLockYAML(path, top)
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		var err error
		switch k.Value {
		case "name", "prefix":
			s.warn(path, k.Line, fmt.Sprintf("%s: ignored (senv builds the env in its own stage directory)", k.Value))
		case "channels":
			err = s.addYAMLChannels(v, bad)
		case "dependencies":
			err = s.addYAMLDependencies(path, v, bad)
		case "variables":
			err = s.addYAMLVariables(v, bad)
		default:
			s.warn(path, k.Line, fmt.Sprintf("unknown key %q ignored (conda reads %s)", k.Value, strings.Join(sortedKeys(envYAMLKeys), ", ")))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type yamlErr func(line int, msg, hint string) error

func (s *Spec) addYAMLChannels(v *yaml.Node, bad yamlErr) error {
	if v.Kind != yaml.SequenceNode {
		return bad(v.Line, "channels: not a list", "write `channels: [conda-forge, nodefaults]`")
	}
	for _, c := range v.Content {
		if c.Kind != yaml.ScalarNode || c.Value == "" || strings.ContainsAny(c.Value, " \t") {
			return bad(c.Line, fmt.Sprintf("channels: %q is not a channel", c.Value), "a channel is a name or a URL, e.g. conda-forge")
		}
		s.Channels = append(s.Channels, c.Value)
	}
	return nil
}

func (s *Spec) addYAMLDependencies(path string, v *yaml.Node, bad yamlErr) error {
	if v.Kind != yaml.SequenceNode {
		return bad(v.Line, "dependencies: not a list", "write `dependencies:` followed by `- PACKAGE` lines")
	}
	for _, d := range v.Content {
		switch d.Kind {
		case yaml.ScalarNode:
			spec := condaYAMLSpec(d.Value)
			if spec == "" {
				return bad(d.Line, "dependencies: empty package", "")
			}
			s.Conda = append(s.Conda, spec)
		case yaml.MappingNode:
			for i := 0; i+1 < len(d.Content); i += 2 {
				k, list := d.Content[i], d.Content[i+1]
				if k.Value != "pip" {
					return bad(k.Line, fmt.Sprintf("dependencies: unknown section %q", k.Value), "the only section in dependencies is `- pip:`")
				}
				if err := s.addYAMLPip(path, list, bad); err != nil {
					return err
				}
			}
		default:
			return bad(d.Line, "dependencies: not a package or a `pip:` section", "")
		}
	}
	return nil
}

// condaYAMLSpec returns a dependency as the match spec conda reads from it:
// "numpy >=1.26" and "numpy>=1.26" are one spec; "numpy 1.26 py311_0"
// (name version build) keeps its spaces, as conda gives it its own meaning
// (an exact version), unlike "numpy=1.26" (1.26.*).
func condaYAMLSpec(v string) string {
	f := strings.Fields(v)
	if len(f) >= 2 && condaOpRe.MatchString(f[1]) {
		f = append([]string{f[0] + f[1]}, f[2:]...)
	}
	return strings.Join(f, " ")
}

// addYAMLPip reads the entries of a `pip:` section as the lines of a
// requirements file (conda writes them to one and runs pip -r on it), so
// that -r, -i, --extra-index-url, -f, -e and URL requirements mean what
// they mean to pip. Relative paths are relative to the environment.yml.
func (s *Spec) addYAMLPip(path string, list *yaml.Node, bad yamlErr) error {
	if list.Kind != yaml.SequenceNode {
		return bad(list.Line, "pip: not a list", "write `- pip:` followed by `- REQUIREMENT` lines")
	}
	dir := filepath.Dir(path)
	var b strings.Builder
	lines := []int{0} // line in the temp file → line in the YAML
	for _, e := range list.Content {
		if e.Kind != yaml.ScalarNode || strings.TrimSpace(e.Value) == "" || strings.ContainsAny(e.Value, "\n\r") {
			return bad(e.Line, "pip: not a requirement", "e.g. `- numpy>=1.26`, `- -r requirements.txt`, `- -e ./mypkg`")
		}
		b.WriteString(pipLineAbs(dir, strings.TrimSpace(e.Value)) + "\n")
		lines = append(lines, e.Line)
	}
	file, err := s.writePipSection(b.String())
	if err != nil {
		return fmt.Errorf("failed to write the pip section of %s: %w", path, err)
	}
	from := len(s.Requested)
	err = s.addRequirementsFile(file, "file")
	if je, ok := err.(*jobspec.Error); ok && je.Pos.File == file {
		je.Pos, je.Msg = yamlPos(path, lines, je.Pos), "pip: "+je.Msg
	}
	for i := from; i < len(s.Requested); i++ {
		if s.Requested[i].Pos.File == file {
			s.Requested[i].Pos = yamlPos(path, lines, s.Requested[i].Pos)
		}
	}
	return err
}

// yamlPos maps a position in a pip section's requirements file to the
// environment.yml line it came from.
func yamlPos(path string, lines []int, p jobspec.Pos) jobspec.Pos {
	line := 0
	if p.Line > 0 && p.Line < len(lines) {
		line = lines[p.Line]
	}
	return jobspec.Pos{File: path, Line: line}
}

// writePipSection writes a pip section as a requirements file for the
// resolver, named by its contents in a directory of the user's own
// (pipSectionDir): the same section is the same path, so the spec key is
// stable across runs and nodes. The file is kept for later solves.
func (s *Spec) writePipSection(text string) (string, error) {
	dir := s.pipSectionDir
	if dir == "" { // stage_dir = "": no dir of the user's own to write it to
		return "", fmt.Errorf("no stage_dir to write the pip section to\nhint: set stage_dir in the senv config")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := checkOwnDir(dir); err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(text))
	file := filepath.Join(dir, hex.EncodeToString(sum[:12])+".txt")
	if data, err := os.ReadFile(file); err == nil && string(data) == text {
		return file, nil
	}
	tmp, err := os.CreateTemp(dir, ".pip-*.txt")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return file, os.Rename(tmp.Name(), file)
}

// PipSectionDir is where pip sections of environment.yml files are written
// for the resolver: beside the envs in the node-local stage directory.
func PipSectionDir(stageDir string) string {
	if stageDir == "" {
		return ""
	}
	return filepath.Join(stageDir, ".senv", "pip-sections")
}

// checkOwnDir refuses a directory that is a symlink, not the user's, or
// writable by others: a planted one in /tmp.
func checkOwnDir(dir string) error {
	info, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !info.IsDir() || !ok || int(st.Uid) != os.Getuid() || info.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is not a directory of yours that only you can write", dir)
	}
	return nil
}

// pipOptsWithPath are the requirements-file options whose value is a path
// (or a URL) rather than a requirement.
var pipOptsWithPath = map[string]bool{"-r": true, "--requirement": true, "-c": true, "--constraint": true,
	"-f": true, "--find-links": true, "-e": true, "--editable": true}

// pipLineAbs makes the relative path in one pip line absolute against dir:
// the path of -r, -c, -f and -e, and a local path requirement (./pkg).
func pipLineAbs(dir, line string) string {
	opt, val, hasVal := strings.Cut(strings.Replace(line, "=", " ", 1), " ")
	if hasVal && pipOptsWithPath[opt] {
		val = strings.TrimSpace(val)
		if isLocalPath(val) {
			return opt + " " + resolve(dir, val)
		}
		return line
	}
	if strings.HasPrefix(line, "./") || strings.HasPrefix(line, "../") {
		return resolve(dir, line)
	}
	return line
}

func isLocalPath(v string) bool {
	return !strings.Contains(v, "://") && !strings.HasPrefix(v, "git+") && !strings.HasPrefix(v, "file:")
}

var varNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// addYAMLVariables reads `variables:`, a mapping of names to scalar values,
// into Variables as sorted NAME=VALUE pairs.
func (s *Spec) addYAMLVariables(v *yaml.Node, bad yamlErr) error {
	if v.Kind != yaml.MappingNode {
		return bad(v.Line, "variables: not a mapping", "write `variables:` followed by `NAME: value` lines")
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if !varNameRe.MatchString(k.Value) {
			return bad(k.Line, fmt.Sprintf("variables: %q is not a variable name", k.Value), "a name matches [A-Za-z_][A-Za-z0-9_]*")
		}
		if val.Kind != yaml.ScalarNode || strings.ContainsAny(val.Value, "\x00\n\r") {
			return bad(val.Line, fmt.Sprintf("variables: %s: the value is not one line of text", k.Value), "write `NAME: value`")
		}
		s.Variables = append(s.Variables, k.Value+"="+val.Value)
	}
	sort.Strings(s.Variables)
	return nil
}

// warn records a warning about the spec's files; callers print Warnings.
func (s *Spec) warn(file string, line int, msg string) {
	s.Warnings = append(s.Warnings, jobspec.Warning{Pos: jobspec.Pos{File: file, Line: line}, Msg: msg})
}
