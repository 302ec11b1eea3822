package solver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/senv-hpc/senv/jobspec"
)

// addRequirementsFile reads a pip requirements file: requirements go to Pip,
// source options to the source fields, -r files are followed.
func (s *Spec) addRequirementsFile(path, key string, seen map[string]bool) error {
	if seen[path] {
		return nil
	}
	seen[path] = true
	data, err := os.ReadFile(path)
	if err != nil {
		return fileError(key, path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bad := func(msg, hint string) error {
			return &jobspec.Error{Pos: jobspec.Pos{File: path, Line: n}, Key: key, Msg: msg, Hint: hint}
		}
		opt, val, _ := strings.Cut(strings.Replace(line, "=", " ", 1), " ")
		val = strings.TrimSpace(val)
		switch opt {
		case "-r", "--requirement":
			nested := resolve(filepath.Dir(path), val)
			if _, err := os.Stat(nested); err != nil {
				return bad(fmt.Sprintf("-r %s: %v", val, unwrapPathError(err)), "-r paths are relative to the requirements file that names them")
			}
			if err := s.addRequirementsFile(nested, key, seen); err != nil {
				return err
			}
		case "-i", "--index-url":
			s.IndexURL = val
		case "--extra-index-url":
			s.ExtraIndexURLs = append(s.ExtraIndexURLs, val)
		case "-f", "--find-links":
			s.FindLinks = append(s.FindLinks, absSource(filepath.Dir(path), val))
		case "--no-index":
			s.NoIndex = true
		default:
			if strings.HasPrefix(line, "-") {
				return bad(fmt.Sprintf("unsupported option %q in a requirements file", opt),
					"senv supports requirements and -r, -i, --extra-index-url, -f, --no-index; build a wheel instead of -e")
			}
			s.Pip = append(s.Pip, NormalizeRequirement(line))
		}
	}
	return nil
}

func fileError(key, path string, err error) error {
	hint := "paths are relative to the script's directory"
	return &jobspec.Error{Pos: jobspec.Pos{File: path}, Key: key, Msg: fmt.Sprintf("cannot read file: %v", unwrapPathError(err)), Hint: hint}
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
