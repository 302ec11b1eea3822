package templates

import _ "embed"

//go:embed sh/supervise.sh
var superviseScript string

// Supervise returns the argv that runs argv under a supervising /bin/sh
// (sh/supervise.sh): on SIGTERM it SIGKILLs its whole process group;
// otherwise it exits with argv's status (128+N if a signal N ended argv).
// argv's stdin is /dev/null. The caller makes the shell a process group
// leader and has the kernel send it SIGTERM when the caller dies, and ends
// what argv leaves in the group; solver.Runner does all three.
func Supervise(argv ...string) []string {
	return append([]string{"/bin/sh", "-c", superviseScript, "senv"}, argv...)
}
