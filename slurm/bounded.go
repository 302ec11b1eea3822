package slurm

import (
	"context"
	"os/exec"
	"syscall"
	"time"
)

// reapGrace is how long runBounded waits, after killing a process group at
// the deadline, for the child to be reaped before it returns anyway.
const reapGrace = 100 * time.Millisecond

// runBounded runs cmd and gives up at ctx's deadline. The child runs in a
// process group of its own, so that the deadline kills the whole group (a
// tool's children too, which may hold its stdout open), and nothing is
// waited for past it: not the child (it may be stuck in the kernel on a hung
// filesystem), not its pipes (a process that left the group may still hold
// them). exec.CommandContext kills only the direct child and then waits on
// the pipes: a hung scontrol once held a prolog with a 3 s timeout for
// 675 s, and a Prolog over its time drains the node.
//
// The cost of a group of its own: if slurmd kills senv itself (its
// PrologEpilogTimeout), it does not reach the group; senv's own deadline
// is the one to keep below slurmd's.
func runBounded(ctx context.Context, cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	// the Wait below, which outlives a deadline, stops copying output
	// this long after the child exits, even if a grandchild holds the pipe
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	select {
	case err := <-done: // finished as the deadline came: its group is gone
		return err
	default:
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(reapGrace):
	}
	return ctx.Err()
}

// callBounded runs f and returns at ctx's deadline even if f has not: root's
// own steps of a hook (mounting an image, releasing mounts) open and read
// files on the shared filesystem, and a blocking open or read on a hung
// filesystem does not see ctx. f then runs on until the hook's process
// ends, which follows at once: a Prolog over its time drains the node.
func callBounded(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	select {
	case err := <-done: // finished as the deadline came
		return err
	default:
		return ctx.Err()
	}
}
