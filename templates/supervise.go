package templates

import _ "embed"

//go:embed sh/supervise.sh
var superviseScript string

// Supervise returns the argv that runs argv under a supervising /bin/sh
// (sh/supervise.sh): on SIGTERM it SIGKILLs its whole process group, and
// when argv exits it sends SIGTERM to whatever argv left in the group, then
// exits with argv's status (128+N if a signal N ended argv). argv's stdin
// is /dev/null. The caller makes the shell a process group leader and has
// the kernel send it SIGTERM when the caller dies; solver.Runner does both.
func Supervise(argv ...string) []string {
	return append([]string{"/bin/sh", "-c", superviseScript, "senv"}, argv...)
}
