package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/senv-hpc/senv/config"
	"github.com/senv-hpc/senv/jobspec"
	"github.com/senv-hpc/senv/wrapper"
)

// envFlags returns one flag per #ENV key (SPEC §2): repeatable keys are
// slice flags, single keys string flags, no-index a bool.
func envFlags() []cli.Flag {
	var flags []cli.Flag
	for _, k := range jobspec.Keys {
		usage := "#ENV " + k.Name + ": " + k.Help
		switch {
		case k.Max == 0:
			flags = append(flags, &cli.BoolFlag{Name: k.Name, Usage: usage, Category: "Environment (same as #ENV keys)"})
		case k.Single:
			flags = append(flags, &cli.StringFlag{Name: k.Name, Usage: usage, Category: "Environment (same as #ENV keys)"})
		default:
			flags = append(flags, &cli.StringSliceFlag{Name: k.Name, Usage: usage + " (repeatable)", Category: "Environment (same as #ENV keys)"})
		}
	}
	return flags
}

// flagDirectives returns the #ENV flags that were set, as directives.
func flagDirectives(c *cli.Context) []jobspec.Directive {
	var ds []jobspec.Directive
	for _, k := range jobspec.Keys {
		if !c.IsSet(k.Name) {
			continue
		}
		pos := jobspec.Pos{Flag: k.Name}
		switch {
		case k.Max == 0:
			if c.Bool(k.Name) {
				ds = append(ds, jobspec.Directive{Key: k.Name, Pos: pos})
			}
		case k.Single:
			ds = append(ds, jobspec.Directive{Key: k.Name, Values: []string{c.String(k.Name)}, Pos: pos})
		default:
			ds = append(ds, jobspec.Directive{Key: k.Name, Values: c.StringSlice(k.Name), Pos: pos})
		}
	}
	return ds
}

// configFlags are the global flags that override configuration keys.
func configFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "cache-dir", Usage: "shared cache directory (config cache_dir)"},
		&cli.StringFlag{Name: "stage-dir", Usage: "node-local stage directory (config stage_dir)"},
		&cli.StringFlag{Name: "lock-timeout", Usage: "longest wait for another build, e.g. 30m (config lock_timeout)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only errors"},
	}
}

// globalSettings returns the configuration keys the global flags set.
func globalSettings(c *cli.Context) map[string]string {
	flags := map[string]string{}
	for _, name := range []string{"cache-dir", "stage-dir", "lock-timeout"} {
		if v := c.String(name); v != "" {
			flags[strings.ReplaceAll(name, "-", "_")] = v
		}
	}
	return flags
}

// loadConfig reads the configuration with the global flags applied, then
// extra (key → value).
func loadConfig(c *cli.Context, extra map[string]string) (*config.Config, error) {
	flags := globalSettings(c)
	for k, v := range extra {
		flags[k] = v
	}
	cfg, err := config.Load(os.Getenv, flags)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return cfg, nil
}

// progressBar draws a one-line progress bar on stderr when it is a
// terminal; job logs (files) get none.
func progressBar(c *cli.Context) func(string, int64, int64) {
	f, ok := stderr.(*os.File)
	if !ok || quiet(c) {
		return nil
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return nil
	}
	return func(phase string, done, total int64) {
		switch {
		case phase == "":
			fmt.Fprint(f, "\r\033[K")
		case total > 0:
			const width = 30
			n := int(done * width / total)
			fmt.Fprintf(f, "\r\033[Ksenv: %s [%s%s] %3d%%", phase, strings.Repeat("=", n), strings.Repeat(" ", width-n), done*100/total)
		default:
			fmt.Fprintf(f, "\r\033[Ksenv: %s... %.1fs", phase, float64(done)/1000)
		}
	}
}

// quiet reports whether -q/--quiet was given, before the command (the
// global flag) or after it: each level has a flag of its own, and c.Bool
// finds only the innermost one, set or not.
func quiet(c *cli.Context) bool {
	for _, x := range c.Lineage() {
		if x.Bool("quiet") {
			return true
		}
	}
	return false
}

// logger returns the phase logger, silent with --quiet.
func logger(c *cli.Context) func(string, ...any) {
	if quiet(c) {
		return nil
	}
	return logf
}

// say logs one line unless --quiet: logger's nil is for callees, which
// check it; a command's own lines go through say.
func say(c *cli.Context, format string, args ...any) {
	if l := logger(c); l != nil {
		l(format, args...)
	}
}

// loadScript parses a script file and merges the #ENV flags into it.
func loadScript(c *cli.Context, path string) (*jobspec.Script, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("cannot open script: %v", err)
	}
	defer f.Close()
	s, err := jobspec.Parse(f, path)
	if err != nil {
		return nil, err
	}
	if err := s.ApplyFlags(flagDirectives(c)); err != nil {
		return nil, err
	}
	return s, nil
}

// scriptOptions are the wrapper options for a script at path.
func scriptOptions(c *cli.Context, cfg *config.Config, path string) wrapper.Options {
	abs, _ := filepath.Abs(path)
	return wrapper.Options{Config: cfg, Dir: filepath.Dir(abs), LockFile: abs + ".lock", Logf: logger(c), Progress: progressBar(c)}
}

// flagsOptions are the wrapper options for a spec given by flags only.
func flagsOptions(c *cli.Context, cfg *config.Config) wrapper.Options {
	wd, _ := os.Getwd()
	return wrapper.Options{Config: cfg, Dir: wd, Logf: logger(c), Progress: progressBar(c)}
}

// afterDashDash reports whether the positional arguments came after "--",
// which marks a command rather than a script.
func afterDashDash(c *cli.Context) bool {
	n := c.Args().Len()
	i := len(rawArgs) - n - 1
	return n > 0 && i >= 0 && rawArgs[i] == "--"
}
