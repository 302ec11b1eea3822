package solver

import (
	"github.com/senv-hpc/senv/jobspec"
)

// addEnvFile reads the file key: environment.yml, requirements.txt or
// pyproject.toml.
func (s *Spec) addEnvFile(path string, env *jobspec.Env) error {
	switch jobspec.FileKind(path) {
	case "requirements":
		return s.addRequirementsFile(path, "file")
	case "pyproject":
		return s.addPyproject(path, env.Extras, env.Groups)
	case "pylock":
		return s.addPylockFile(path)
	case "conda":
		return s.addEnvironmentYAML(path)
	}
	return nil
}
