// Command mkwheels writes the synthetic wheels of the benchmarks: one pure
// Python package per size, each with many tiny modules, so that an env built
// from it has roughly the wanted number of files (a module and its .pyc).
//
//	go run ./bench/mkwheels -dir /var/tmp/senv-bench/wheels-syn syn1k=500 syn5k=2500
//
// It is idempotent: an existing wheel of the same name is rewritten.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/senv-hpc/senv/internal/wheelhouse"
)

func main() {
	dir := flag.String("dir", "", "wheelhouse directory to write (created if needed)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: mkwheels -dir DIR NAME=MODULES...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *dir == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var wheels []wheelhouse.Wheel
	for _, arg := range flag.Args() {
		name, n, ok := strings.Cut(arg, "=")
		modules, err := strconv.Atoi(n)
		if !ok || err != nil || modules < 0 || name == "" {
			fmt.Fprintf(os.Stderr, "mkwheels: bad argument %q: want NAME=MODULES\n", arg)
			os.Exit(2)
		}
		wheels = append(wheels, wheelhouse.Wheel{Name: name, Version: "1.0", Modules: modules})
	}
	if _, err := wheelhouse.BuildAll(*dir, wheels); err != nil {
		fmt.Fprintf(os.Stderr, "mkwheels: %v\n", err)
		os.Exit(1)
	}
}
