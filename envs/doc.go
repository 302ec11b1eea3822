// Package envs builds, packs, publishes, stages, lists and removes
// environments.
//
// A Backend (venv, uv, conda family) builds an environment at its final
// path, stage_dir/ID, from a solver.Lock. The rest is shared by every
// backend: the build is packed into one zstd-compressed tar in the shared
// Cache with a manifest of every file, published with a rename that never
// replaces, and staged onto node-local disk under a node-local lock, verified
// against the manifest, with a completeness marker written last.
package envs
