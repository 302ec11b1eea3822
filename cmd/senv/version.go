package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print version, commit and build info",
		Description: `Prints one line: senv VERSION commit COMMIT GO OS/ARCH. make build stamps
the version (the git tag, if HEAD has one) and the commit (with -dirty for
uncommitted changes) with -ldflags; a plain go build records the commit
itself, which senv reads back; without either, the commit is "unknown".

Example:
   senv version`,
		Action: func(c *cli.Context) error {
			bi, _ := debug.ReadBuildInfo()
			_, err := fmt.Fprintln(c.App.Writer, versionLine(version, commit, bi))
			return err
		},
	}
}

// versionLine is what `senv version` prints: the stamped version and
// commit (-ldflags, see the Makefile), else the commit the go command
// recorded in the binary (vcs.revision, vcs.modified), else "unknown".
func versionLine(version, commit string, bi *debug.BuildInfo) string {
	if commit == "" {
		commit = vcsCommit(bi)
	}
	if commit == "" {
		commit = "unknown"
	}
	return strings.Join([]string{"senv " + version, "commit " + commit, runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH}, " ")
}

// vcsCommit is the commit the go command recorded at build time, with
// -dirty when the tree had uncommitted changes; "" when it recorded none
// (go run, go test, -buildvcs=false, a build outside the repository).
func vcsCommit(bi *debug.BuildInfo) string {
	if bi == nil {
		return ""
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}
