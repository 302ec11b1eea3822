package solver

import (
	"os"

	"github.com/BurntSushi/toml"
	"github.com/senv-hpc/senv/jobspec"
)

// addPyproject reads the dependencies of a pyproject.toml.
func (s *Spec) addPyproject(path string) error {
	var pp struct {
		Project struct {
			Dependencies   []string `toml:"dependencies"`
			RequiresPython string   `toml:"requires-python"`
		} `toml:"project"`
	}
	if _, err := toml.DecodeFile(path, &pp); err != nil {
		if os.IsNotExist(err) {
			return fileError("file", path, err)
		}
		return &jobspec.Error{Pos: jobspec.Pos{File: path}, Key: "file", Msg: "not valid TOML: " + err.Error()}
	}
	for _, d := range pp.Project.Dependencies {
		s.addPip(d, jobspec.Pos{File: path})
	}
	return nil
}
