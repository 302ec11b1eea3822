package condatools

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Tool is one conda-family manager configuration the tests cover.
type Tool struct {
	Name    string // subtest name, e.g. "micromamba-1.5"
	Manager string // senv's manager: micromamba, mamba or conda
	Bin     string // absolute path of the binary
	Solver  string // conda only: libmamba or classic
}

// Channel returns the test channel's URL, or skips (fails in CI) without it.
func Channel(t testing.TB) string {
	t.Helper()
	ch := os.Getenv("SENV_TEST_CHANNEL")
	if ch == "" {
		missing(t, "SENV_TEST_CHANNEL is not set (source setup-channel.sh from the conda tools bundle, see .ci/run)")
	}
	return ch
}

// ChannelDir returns the test channel as a directory path.
func ChannelDir(t testing.TB) string {
	t.Helper()
	return strings.TrimPrefix(Channel(t), "file://")
}

// All returns every manager configuration: micromamba 2, micromamba 1.5,
// mamba 2, conda with each solver. Any one missing skips the test (fails it
// in CI); use Available to run what there is.
func All(t testing.TB) []Tool {
	t.Helper()
	tools, why := find()
	if len(why) > 0 {
		missing(t, strings.Join(why, "; "))
	}
	return tools
}

// Available returns the configurations whose binaries exist; none skips the
// test (fails it in CI), and in CI a missing one fails it.
func Available(t testing.TB) []Tool {
	t.Helper()
	tools, why := find()
	if len(why) > 0 && (os.Getenv("CI") != "" || len(tools) == 0) {
		missing(t, strings.Join(why, "; "))
	}
	return tools
}

// First returns the first available configuration (micromamba first).
func First(t testing.TB) Tool {
	t.Helper()
	return Available(t)[0]
}

func find() (tools []Tool, why []string) {
	look := func(name string) string {
		p, err := exec.LookPath(name)
		if err != nil {
			why = append(why, name+" is not on PATH")
			return ""
		}
		return p
	}
	if p := look("micromamba"); p != "" {
		tools = append(tools, Tool{Name: "micromamba", Manager: "micromamba", Bin: p})
	}
	if p := os.Getenv("SENV_TEST_MICROMAMBA15"); p != "" {
		tools = append(tools, Tool{Name: "micromamba-1.5", Manager: "micromamba", Bin: p})
	} else {
		why = append(why, "SENV_TEST_MICROMAMBA15 is not set")
	}
	if p := look("mamba"); p != "" {
		tools = append(tools, Tool{Name: "mamba", Manager: "mamba", Bin: p})
	}
	if p := look("conda"); p != "" {
		tools = append(tools, Tool{Name: "conda-libmamba", Manager: "conda", Bin: p, Solver: "libmamba"},
			Tool{Name: "conda-classic", Manager: "conda", Bin: p, Solver: "classic"})
	}
	return tools, why
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must test the real conda-family tools: %s", why)
	}
	t.Skip(why)
}
