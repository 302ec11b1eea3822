package slurm

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/senv-hpc/senv/jobspec"
)

// Request is what a root hook hands its job user's half, as one JSON
// object on the half's stdin. The half runs in a cleared environment, so
// everything it must know travels here; and not on its command line, which
// every user can read (settings may hold an index URL with a token).
type Request struct {
	// JobID is the job's SLURM_JOB_ID.
	JobID string `json:"job_id"`
	// Command is the path the job was submitted from (see JobCommand).
	Command string `json:"command,omitempty"`
	// Settings are the configuration keys root took from SENV_* variables
	// and global flags, as given ({uid} not yet expanded): the half passes
	// them to config.Load as flags, so that it acts on root's configuration.
	Settings map[string]string `json:"settings,omitempty"`
	// Script is the job's batch script (the prolog's).
	Script []byte `json:"script,omitempty"`
	// PrivateTmp says that the job gets a private /tmp made after the
	// Prolog (see PrivateTmp): the half must not stage into /tmp.
	PrivateTmp bool `json:"private_tmp,omitempty"`
	// Mount says that root mounts env images (mount_dir is set): the half
	// answers, on descriptor ReplyFD, the ID of an env whose image a site
	// tier holds instead of staging it.
	Mount bool `json:"mount,omitempty"`
}

// ReplyFD is the descriptor on which a hook's job user half answers root.
const ReplyFD = 3

// maxReply bounds what root reads of the half's answer: an env ID.
const maxReply = 256

// maxRequest bounds what ReadRequest reads: a script of the largest size,
// base64-encoded, and room for the rest.
const maxRequest = jobspec.MaxScriptSize/3*4 + 1<<20

// ReadRequest reads a root hook's Request from r.
func ReadRequest(r io.Reader) (*Request, error) {
	var req Request
	if err := json.NewDecoder(io.LimitReader(r, maxRequest)).Decode(&req); err != nil {
		return nil, fmt.Errorf("failed to read the root hook's request: %w", err)
	}
	return &req, nil
}
