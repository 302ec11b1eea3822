package slurm

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
)

// PrivateTmp reports whether the slurm.conf at conf gives every job a
// private /tmp and /dev/shm: JobContainerType=job_container/tmpfs. It reads
// slurm.conf itself (not its Include files); an unreadable file is false.
//
// Under that plugin (Slurm 22.05) the job's mount namespace is made after
// the Prolog, in the job's extern step, so no Prolog can put anything into
// the job's /tmp: an env staged there by the Prolog lands in the node's own
// /tmp, where the job never looks.
func PrivateTmp(conf string) bool {
	f, err := os.Open(conf)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "JobContainerType") {
			return strings.Contains(strings.ToLower(v), "tmpfs")
		}
	}
	return false
}

// InPrivateTmp reports whether dir is in a job's private /tmp or /dev/shm
// (see PrivateTmp).
func InPrivateTmp(dir string) bool {
	dir = filepath.Clean(dir)
	for _, p := range []string{"/tmp", "/dev/shm"} {
		if dir == p || strings.HasPrefix(dir, p+"/") {
			return true
		}
	}
	return false
}

// slurmConf is the slurm.conf slurmd runs with: the Prolog's SLURM_CONF.
func slurmConf() string {
	if c := os.Getenv("SLURM_CONF"); c != "" {
		return c
	}
	return "/etc/slurm/slurm.conf"
}
