package solver

import (
	"github.com/senv-hpc/senv/jobspec"
)

// addEnvFile reads the file key: environment.yml, requirements.txt or
// pyproject.toml.
func (s *Spec) addEnvFile(path string) error {
	switch jobspec.FileKind(path) {
	case "requirements":
		return s.addRequirementsFile(path, "file")
	case "pyproject":
		return s.addPyproject(path)
	case "conda":
		return s.addEnvironmentYAML(path)
	}
	return nil
}
