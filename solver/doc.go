// Package solver turns a job's Env and the site config into a plan: the
// canonical Spec and its key, the Lock (the exact package set, solved once
// and reused), and the env ID that names what gets installed.
//
// It drives the external resolvers — pip's `install --dry-run --report`,
// `uv pip compile`, and the conda family's `create --dry-run --json` — and
// owns the lock formats. It builds nothing.
package solver
