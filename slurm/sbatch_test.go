package slurm

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseSbatchArgs(t *testing.T) {
	cases := []struct {
		args         string
		sbatch, env  []string
		script, wrap string
		scriptArgs   []string
		buildAt      string
		waits        bool
	}{
		{args: "job.sh", script: "job.sh"},
		{args: "--pip numpy -N 2 --time 1:00:00 job.sh --epochs 3", sbatch: []string{"-N", "2", "--time", "1:00:00"},
			env: []string{"pip=numpy"}, script: "job.sh", scriptArgs: []string{"--epochs", "3"}},
		{args: "-N2 --export=ALL --exclusive -k --parsable job.sh", sbatch: []string{"-N2", "--export=ALL", "--exclusive", "-k", "--parsable"}, script: "job.sh"},
		{args: "--nice job.sh", sbatch: []string{"--nice"}, script: "job.sh"},
		{args: "--propagate --nice=5 job.sh", sbatch: []string{"--propagate", "--nice=5"}, script: "job.sh"},
		{args: "-o out.txt -J name --no-index --find-links=/w job.sh", sbatch: []string{"-o", "out.txt", "-J", "name"},
			env: []string{"no-index=", "find-links=/w"}, script: "job.sh"},
		{args: "--build-at job --pip x --wrap hostname", env: []string{"pip=x"}, wrap: "hostname", buildAt: "job"},
		{args: "-- job.sh a", script: "job.sh", scriptArgs: []string{"a"}},
		// groups of short options, as sbatch's getopt reads them
		{args: "-W job.sh", sbatch: []string{"-W"}, script: "job.sh", waits: true},
		{args: "--wait --wrap true", sbatch: []string{"--wait"}, wrap: "true", waits: true},
		{args: "-HW job.sh", sbatch: []string{"-HW"}, script: "job.sh", waits: true},
		{args: "-vWp debug job.sh", sbatch: []string{"-vWp", "debug"}, script: "job.sh", waits: true},
		{args: "-Hp debug job.sh", sbatch: []string{"-Hp", "debug"}, script: "job.sh"},
		{args: "-pW job.sh", sbatch: []string{"-pW"}, script: "job.sh"},        // W is -p's value
		{args: "-kW job.sh", sbatch: []string{"-kW"}, script: "job.sh"},        // W is -k's optional value
		{args: "-J -W job.sh", sbatch: []string{"-J", "-W"}, script: "job.sh"}, // -W is -J's value
		{args: "job.sh -W", script: "job.sh", scriptArgs: []string{"-W"}},
	}
	for _, tc := range cases {
		t.Run(tc.args, func(t *testing.T) {
			a, err := ParseSbatchArgs(strings.Fields(tc.args))
			if err != nil {
				t.Fatal(err)
			}
			var env []string
			for _, d := range a.Env {
				env = append(env, d.Key+"="+strings.Join(d.Values, " "))
			}
			if !same(a.Sbatch, tc.sbatch) || !same(env, tc.env) || a.Script != tc.script ||
				a.Wrap != tc.wrap || !same(a.Args, tc.scriptArgs) || a.BuildAt != tc.buildAt || a.Waits() != tc.waits {
				t.Errorf("got sbatch %q env %q script %q args %q wrap %q build-at %q waits %v", a.Sbatch, env, a.Script, a.Args, a.Wrap, a.BuildAt, a.Waits())
			}
		})
	}
}

// same compares string lists, nil and empty alike.
func same(a, b []string) bool { return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b)) }

// TestParseSbatchArgsUsage: an option missing its value is a usage error.
func TestParseSbatchArgsUsage(t *testing.T) {
	for _, args := range []string{"--pip", "job.sh --wrap", "--build-at"} {
		_, err := ParseSbatchArgs(strings.Fields(args))
		var ue *UsageError
		if args == "job.sh --wrap" {
			if err != nil {
				t.Errorf("%q: %v, want --wrap taken as the script's argument", args, err)
			}
			continue
		}
		if !errors.As(err, &ue) {
			t.Errorf("%q: got %v, want a UsageError", args, err)
		}
	}
}
