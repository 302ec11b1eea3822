// Package unpack holds the Go benchmarks of senv's warm start: envs.Unpack
// on a real cache entry, and the same archive taken apart step by step
// (decompress, read the tar, hash) so a CPU profile says where the time
// goes. bench/run.sh drives them; they skip unless SENV_BENCH_ENTRY names
// a cache entry. There is no code here outside the tests.
package unpack
