// Package e2e holds senv's end-to-end tests: they submit real jobs to a real Slurm cluster
// (two fake nodes on one machine, each with its own hostname and its own /tmp) started by
// e2e/testbed/start.sh, and run senv's hooks as Prolog, Epilog and TaskProlog.
//
// The tests and their harness (cluster.go) are built only with the e2e build tag and must
// run as root:
//
//	sudo bash e2e/testbed/install.sh   # packages, once per machine
//	sudo bash e2e/testbed/start.sh     # start (or check) the cluster
//	go test -tags e2e ./e2e/ -count=1 -v
//
// Without a running cluster the tests skip, or fail when the CI environment variable is set.
// See e2e/testbed/README.md.
package e2e
