package slurm

import (
	"bytes"
	"regexp"

	"github.com/senv-hpc/senv/templates"
)

// MayHaveSpec is a cheap first look at a job script: can it ask for an env?
// It is true for every script that jobspec would find directives in, and
// for some that it would not.
func MayHaveSpec(script []byte) bool {
	return bytes.Contains(script, []byte("#ENV")) || bytes.Contains(script, []byte("# /// script")) ||
		bytes.Contains(script, []byte(templates.InjectMarker))
}

// RenderedEnvID recognises a script rendered by `senv sbatch` (it carries
// its own activation) and returns the env ID it pins, if any.
func RenderedEnvID(script []byte) (string, bool) {
	if !bytes.Contains(script, []byte(templates.InjectMarker)) {
		return "", false
	}
	if m := envIDRe.FindSubmatch(script); m != nil {
		return string(m[1]), true
	}
	return "", true
}

var envIDRe = regexp.MustCompile(`\bsenv_activation=\$\(.* --env-id ([0-9a-f]{16}) `)
