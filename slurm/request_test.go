package slurm

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/senv-hpc/senv/jobspec"
)

// TestReadRequest: what the root half writes, the job user's half reads
// back whole, up to a script of the largest size; anything else is an
// error, never a half-read request.
func TestReadRequest(t *testing.T) {
	big := Request{JobID: "7", Script: bytes.Repeat([]byte{0xff}, jobspec.MaxScriptSize)}
	full := Request{JobID: "7", Command: "/home/u/job.sh", Settings: map[string]string{"epilog_gc": "168h", "stage_dir": "/l/{uid}"}, Script: []byte("#!/bin/sh\n#ENV pip x\n")}
	cases := []struct {
		name  string
		input []byte
		want  *Request
	}{
		{"full", marshal(t, full), &full},
		{"largest script", marshal(t, big), &big},
		{"empty", nil, nil},
		{"raw script, not a request", []byte("#!/bin/sh\n#ENV pip x\n"), nil},
		{"truncated", marshal(t, full)[:20], nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadRequest(bytes.NewReader(tc.input))
			switch {
			case tc.want == nil && err == nil:
				t.Errorf("accepted %q", tc.input)
			case tc.want == nil && !strings.HasPrefix(err.Error(), "failed to read the root hook's request: "):
				t.Errorf("error %q", err)
			case tc.want != nil && (err != nil || !reflect.DeepEqual(got, tc.want)):
				t.Errorf("got %+v, %v", got, err)
			}
		})
	}
}

func marshal(t *testing.T, r Request) []byte {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
