package solver

import (
	"github.com/senv-hpc/senv/internal/inputfile"
	"github.com/senv-hpc/senv/jobspec"
)

// addEnvFile reads the file key: environment.yml (or conda-lock.yml),
// requirements.txt (or a conda explicit list), pyproject.toml, pylock.toml,
// or a conda lock (pixi.lock, conda-lock's conda-PLATFORM.lock).
func (s *Spec) addEnvFile(path string, env *jobspec.Env) error {
	switch jobspec.FileKind(path) {
	case "requirements":
		if data, err := inputfile.Read(path, maxRequirementsSize); err == nil && isExplicitFile(data) {
			return s.addExplicitFile(path, data)
		}
		return s.addRequirementsFile(path, "file")
	case "pyproject":
		return s.addPyproject(path, env.Extras, env.Groups)
	case "pylock":
		return s.addPylockFile(path)
	case "lock":
		return s.addLockFile(path)
	case "conda":
		return s.addEnvironmentYAML(path)
	}
	return nil
}
