// Package interactive is senv for people at a prompt rather than in a batch
// script: `senv shell` (an interactive bash or zsh with the env staged,
// its modules loaded and the prompt marked) and Jupyter kernels (a
// kernelspec whose argv starts the kernel through senv, from a recorded
// lock, on whichever node the kernel starts).
//
// It writes startup files with templates (ShellRC) and kernelspecs as
// JSON; it prepares nothing itself: cmd/senv prepares the env with wrapper
// and hands the result here.
package interactive
