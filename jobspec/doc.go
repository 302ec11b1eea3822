// Package jobspec parses a batch script into a Script: its header, the
// #SBATCH and #ENV directives with their positions, and the payload.
//
// The package is pure: it reads an io.Reader and never touches files, the
// environment or other processes. Checks that need the outside world (does a
// requirements file exist, is a module known) live in the callers.
//
// The header rule is sbatch's own: after the shebang, lines that are blank or
// whose first non-blank character is '#' belong to the header; the first other
// line ends it. A directive is a header line that starts at column 0 with
// "#ENV" followed by a space or a tab.
package jobspec
