package wrapper_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPinnedJobWaitsForPack: senv sbatch submits before it packs, so a
// job's `senv activate --env-id ID` can start while the submitter still
// holds the build lock and the entry is not published. It waits for the
// lock and then stages the entry, still without reading the script's spec
// files: here its requirements file is gone by then, which the fallback
// (resolving the script's spec again) would fail on.
func TestPinnedJobWaitsForPack(t *testing.T) {
	s := newSandbox(t)
	req := filepath.Join(s.dir, "requirements.txt")
	script := filepath.Join(s.dir, "job.sh")
	os.WriteFile(req, []byte("alpha\n"), 0o644)
	os.WriteFile(script, []byte("#!/bin/bash\n#ENV manager "+fastManager()+"\n#ENV find-links "+s.wh+
		"\n#ENV no-index\n#ENV requirements requirements.txt\nalpha-hello\n"), 0o755)
	out, errOut, code := s.run("build", script)
	if code != 0 {
		t.Fatalf("senv build: exit %d\n%s", code, errOut)
	}
	fields := strings.Fields(out)
	id := fields[len(fields)-1]

	// the submitter's state between install and publish: the entry not yet
	// there, its build lock held; the job's node has nothing staged
	entry := filepath.Join(s.cache, "v1", "envs", id)
	hidden := filepath.Join(s.dir, "entry-being-packed")
	if err := os.Rename(entry, hidden); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(s.stage)
	lock, err := os.OpenFile(filepath.Join(s.cache, "v1", "build", id+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	os.Remove(req)

	logFile := filepath.Join(s.dir, "job.err")
	logW, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	job := s.cmd("activate", "--shell", "sh", "--dir", s.dir, "--env-id", id, "--script", script)
	var stdout strings.Builder
	job.Stdout, job.Stderr = &stdout, logW
	if err := job.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- job.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		data, _ := os.ReadFile(logFile)
		if strings.Contains(string(data), "who is building env "+id) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the job did not wait for the build lock (exit: %v):\n%s", err, data)
		default:
		}
		if time.Now().After(deadline) {
			job.Process.Kill()
			t.Fatalf("the job did not wait for the build lock:\n%s", data)
		}
	}
	// the submitter publishes and releases its lock
	if err := os.Rename(hidden, entry); err != nil {
		t.Fatal(err)
	}
	unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	err = <-done
	logW.Close()
	data, _ := os.ReadFile(logFile)
	if err != nil || !strings.Contains(stdout.String(), filepath.Join(s.stage, id)) {
		t.Fatalf("senv activate: %v\nstdout: %s\nstderr: %s", err, stdout.String(), data)
	}
	if !strings.Contains(string(data), " cache hit, staged ") || strings.Contains(string(data), " building with ") {
		t.Errorf("the job did not stage the published entry:\n%s", data)
	}
}
