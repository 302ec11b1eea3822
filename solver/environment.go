package solver

import (
	"os"
	"strings"

	"github.com/senv-hpc/senv/jobspec"
	"gopkg.in/yaml.v3"
)

// addEnvironmentYAML reads a conda environment.yml.
func (s *Spec) addEnvironmentYAML(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fileError("file", path, err)
	}
	var ef struct {
		Channels     []string    `yaml:"channels"`
		Dependencies []yaml.Node `yaml:"dependencies"`
	}
	if err := yaml.Unmarshal(data, &ef); err != nil {
		return &jobspec.Error{Pos: jobspec.Pos{File: path}, Key: "file", Msg: "not valid YAML: " + err.Error()}
	}
	s.Channels = append(s.Channels, ef.Channels...)
	for _, d := range ef.Dependencies {
		switch d.Kind {
		case yaml.ScalarNode:
			s.Conda = append(s.Conda, strings.Join(strings.Fields(d.Value), ""))
		case yaml.MappingNode:
			var m map[string][]string
			if err := d.Decode(&m); err != nil {
				return &jobspec.Error{Pos: jobspec.Pos{File: path, Line: d.Line}, Key: "file", Msg: "dependencies: " + err.Error()}
			}
			for _, r := range m["pip"] {
				s.Pip = append(s.Pip, NormalizeRequirement(r))
			}
		}
	}
	return nil
}
