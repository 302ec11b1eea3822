// Package unpack holds the Go benchmarks of senv's warm start: envs.Unpack
// on a real cache entry, and the same archive taken apart step by step
// (decompress, read the tar, hash) so a CPU profile says where the time
// goes; and envs.Pack of a staged env (SENV_BENCH_TREE), the build's pack
// step. bench/run.sh drives them; they skip unless SENV_BENCH_ENTRY names
// a cache entry (SENV_BENCH_TREE a staged env). There is no code here
// outside the tests.
package unpack
