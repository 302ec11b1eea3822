package wrapper

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/internal/condatools"
	"github.com/senv-hpc/senv/jobspec"
)

// TestUseExistingCondaEnv activates envs made by hand with each real tool,
// by name (`#ENV use conda:NAME`) and by path, under dash and bash, without
// the `conda activate` shell function: PATH and CONDA_PREFIX point at the
// env, its activate.d script ran, and (conda) the variables `conda env
// config vars set` recorded are exported.
func TestUseExistingCondaEnv(t *testing.T) {
	channel := condatools.Channel(t)
	shells := []string{"dash", "bash"}
	for _, sh := range shells {
		if _, err := exec.LookPath(sh); err != nil {
			t.Fatalf("%s is not installed: %v", sh, err)
		}
	}
	for _, tool := range condatools.Available(t) {
		if tool.Solver == "classic" {
			continue // the same binary as conda-libmamba: how it solves does not matter here
		}
		t.Run(tool.Name, func(t *testing.T) {
			root := t.TempDir()
			t.Setenv("HOME", filepath.Join(root, "home"))
			t.Setenv("MAMBA_ROOT_PREFIX", filepath.Join(root, "mamba"))
			t.Setenv("CONDA_ENVS_PATH", filepath.Join(root, "envs"))
			t.Setenv("CONDA_PKGS_DIRS", filepath.Join(root, "pkgs"))
			create := exec.Command(tool.Bin, "create", "--yes", "--quiet", "--name", "handmade", "--override-channels", "--channel", channel, "hello-prefix")
			if out, err := create.CombinedOutput(); err != nil {
				t.Fatalf("create: %v\n%s", err, out)
			}
			wantVar := ""
			if tool.Manager == "conda" {
				wantVar = "from state"
				set := exec.Command(tool.Bin, "env", "config", "vars", "set", "--name", "handmade", "SENV_TEST_VAR=from state")
				if out, err := set.CombinedOutput(); err != nil {
					t.Fatalf("env config vars set: %v\n%s", err, out)
				}
			}
			o := options(t)
			o.Config.Micromamba, o.Config.Mamba, o.Config.Conda = tool.Bin, tool.Bin, tool.Bin
			p, err := Prepare(context.Background(), &jobspec.Env{Use: "conda:handmade"}, o)
			if err != nil {
				t.Fatal(err)
			}
			prefix := p.Prefix
			if filepath.Base(prefix) != "handmade" || p.Activation.Kind != "conda" {
				t.Fatalf("use conda:handmade: prefix %q kind %q", prefix, p.Activation.Kind)
			}
			byPath, err := Prepare(context.Background(), &jobspec.Env{Use: prefix}, o)
			if err != nil {
				t.Fatal(err)
			}
			for name, act := range map[string]*Prepared{"by name": p, "by path": byPath} {
				block, err := act.Activation.Render()
				if err != nil {
					t.Fatal(err)
				}
				for _, sh := range shells {
					script := block + `printf '%s|%s|%s|%s\n' "$CONDA_PREFIX" "$HELLO_PREFIX_ACTIVATED" "$(command -v hello-prefix)" "$SENV_TEST_VAR"`
					out, err := exec.Command(sh, "-c", script).CombinedOutput()
					want := prefix + "|" + prefix + "|" + prefix + "/bin/hello-prefix|" + wantVar
					if err != nil || strings.TrimSpace(string(out)) != want {
						t.Errorf("%s, %s: %v\n%s\nwant %s", name, sh, err, out, want)
					}
				}
			}
			_, err = Prepare(context.Background(), &jobspec.Env{Use: "conda:no-such-env"}, o)
			if err == nil || !strings.Contains(err.Error(), "no such conda env") {
				t.Errorf("use conda:no-such-env: error %v", err)
			}
		})
	}
}
