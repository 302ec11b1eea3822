package envs

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// fakeJobs stands in for Slurm (the unit tests have no controller to ask):
// the jobs in it are running.
type fakeJobs map[string]bool

func (f fakeJobs) Running(job string) bool { return f[job] }

// TestJobLeaseKeepsEnv_FakeSlurm: a payload's detached child closes the
// lease descriptor and outlives the payload; while its job runs, gc must
// keep the env, and once the job has ended gc removes the env and the
// job's record.
func TestJobLeaseKeepsEnv_FakeSlurm(t *testing.T) {
	cases := []struct {
		name        string
		job         string // SLURM_JOB_ID of the run; "" outside Slurm
		running     fakeJobs
		wantRemoved bool
	}{
		{"job still running", "4242", fakeJobs{"4242": true}, false},
		{"job ended", "4242", fakeJobs{"17": true}, true},
		{"outside Slurm, lease closed", "", fakeJobs{}, true},
		{"cannot ask Slurm", "4242", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := OpenStage(filepath.Join(t.TempDir(), "stage"), nil)
			if err != nil {
				t.Fatal(err)
			}
			id := "0123456789abcdef"
			writeEnv(t, s.Prefix(id), victimPython)
			if err := s.MarkReady(id); err != nil {
				t.Fatal(err)
			}
			s.Job = tc.job
			lease, err := s.Lease(id)
			if err != nil {
				t.Fatal(err)
			}
			lease.Close() // the payload exited; its detached child holds no descriptor
			var jobs Jobs
			if tc.running != nil {
				jobs = tc.running
			}
			removed, err := s.RemoveUnused(id, jobs)
			if err != nil {
				t.Fatal(err)
			}
			if removed != tc.wantRemoved {
				t.Errorf("removed = %v, want %v", removed, tc.wantRemoved)
			}
			if _, err := os.Stat(filepath.Join(s.Prefix(id), "bin", "python")); (err == nil) == tc.wantRemoved {
				t.Errorf("env present = %v after gc, want %v", err == nil, !tc.wantRemoved)
			}
			_, err = os.Stat(s.meta(id, "job."+tc.job))
			if tc.job != "" && (err == nil) == tc.wantRemoved {
				t.Errorf("job record present = %v after gc, want %v", err == nil, !tc.wantRemoved)
			}
		})
	}
}

// TestLeaseRefusesBadJobID: the job ID becomes part of a file name.
func TestLeaseRefusesBadJobID(t *testing.T) {
	s, err := OpenStage(filepath.Join(t.TempDir(), "stage"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Job = "../../x"
	if _, err := s.Lease("0123456789abcdef"); err == nil {
		t.Error("accepted job ID ../../x")
	}
}

func TestParseSqueue(t *testing.T) {
	out := "4242 RUNNING\n4243 PENDING\n4244 COMPLETING\n4245 SUSPENDED\n\n"
	want := map[string]bool{"4242": true, "4243": true, "4245": true}
	if got := parseSqueue([]byte(out)); !reflect.DeepEqual(got, want) {
		t.Errorf("parseSqueue = %v, want %v", got, want)
	}
}

// TestSlurmJobsEnded: the epilog's own job has ended, without asking Slurm.
func TestSlurmJobsEnded(t *testing.T) {
	j := &SlurmJobs{Ended: "4242"}
	if j.Running("4242") {
		t.Error("the epilog's own job counts as running")
	}
}

// TestSlurmJobsCtxFakeSqueue: a hung squeue (a fake one on PATH that never
// answers), or one whose child keeps its stdout open, is stopped at Ctx's
// end, and then every job counts as running, so nothing is collected or
// unmounted. The root Epilog asks this: before, a child holding the pipe
// kept it waiting for that child (8 s with a 1 s deadline).
func TestSlurmJobsCtxFakeSqueue(t *testing.T) {
	cases := []struct{ name, script string }{
		{"hung", "#!/bin/sh\nexec sleep 60\n"},
		{"a child holds stdout", "#!/bin/sh\nsleep 60 &\nexec sleep 60\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bin := t.TempDir()
			if err := os.WriteFile(filepath.Join(bin, "squeue"), []byte(tc.script), 0o755); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			var warned string
			j := &SlurmJobs{Ctx: ctx, AllUsers: true, Warn: func(msg string) { warned = msg }}
			start := time.Now()
			if !j.Running("4242") {
				t.Error("with squeue stopped, a job counts as ended")
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("Running took %s with a 200ms context", took.Round(time.Millisecond))
			}
			if warned == "" {
				t.Error("no warning that squeue failed")
			}
		})
	}
}
