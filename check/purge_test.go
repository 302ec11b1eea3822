package check

import (
	"reflect"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
)

// TestModuleResets: every payload command that unloads what senv loaded
// is named at its line; comments, quoted words, here-documents and other
// module commands are not; a script for which senv loads no module gets
// no warning.
func TestModuleResets(t *testing.T) {
	cases := []struct {
		name    string
		env     string // #ENV lines, from line 2
		payload string // from the line after them
		cfg     config.Config
		want    []string // "LINE: COMMAND"
	}{
		{name: "purge", env: "#ENV module gcc/12\n", payload: "module purge\n", want: []string{"3: module purge"}},
		{name: "force purge", env: "#ENV module gcc/12\n", payload: "module --force purge\n", want: []string{"3: module --force purge"}},
		{name: "ml purge", env: "#ENV module gcc/12\n", payload: "ml purge\n", want: []string{"3: ml purge"}},
		{name: "force after purge", env: "#ENV module gcc/12\n", payload: "module purge --force\n", want: []string{"3: module purge --force"}},
		{name: "restore and reset", env: "#ENV module gcc/12\n", payload: "module restore lab\nml -q reset\n",
			want: []string{"3: module restore", "4: ml -q reset"}},
		{name: "after operators and keywords", env: "#ENV module gcc/12\n",
			payload: "cd /tmp && module purge\nif true; then ml purge; fi\nLMOD_QUIET=1 command module purge | cat\n",
			want:    []string{"3: module purge", "4: ml purge", "5: module purge"}},
		{name: "not commands", env: "#ENV module gcc/12\n",
			payload: "# module purge\necho module purge\necho 'ml purge'\nmodule load gcc/12\nml gcc/12\nmodule list purge-notes\n"},
		{name: "here-document skipped", env: "#ENV module gcc/12\n",
			payload: "cat <<'EOF' >x\nmodule purge\nEOF\ncat <<-END\n\tml purge\n\tEND\nmodule purge\n",
			want:    []string{"9: module purge"}},
		{name: "python module counts", env: "#ENV python 3.11\n", payload: "module purge\n",
			cfg: config.Config{PythonModule: "python/{version}"}, want: []string{"3: module purge"}},
		{name: "no modules, no warning", env: "#ENV pip numpy\n", payload: "module purge\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := jobspec.Parse(strings.NewReader("#!/bin/bash\n"+tc.env+tc.payload), "job.sh")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range ModuleResets(s, &tc.cfg, t.TempDir()) {
				cmd := strings.SplitN(w.Msg, `"`, 3)[1]
				got = append(got, strings.TrimPrefix(w.Pos.String(), "job.sh:")+": "+cmd)
				if !strings.Contains(w.Hint, "#ENV module") {
					t.Errorf("%s: hint %q does not point at #ENV module", w.Pos, w.Hint)
				}
				if strings.Contains(cmd, "force") != strings.Contains(w.Hint, "sticky") {
					t.Errorf("%s: %q with hint %q: the sticky-modules note belongs to --force only", w.Pos, cmd, w.Hint)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
