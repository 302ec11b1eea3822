// Package config loads senv's site and user configuration: TOML files, then
// SENV_* environment variables, then flags, later sources winning. It records
// where each effective value came from, for `senv doctor`.
//
// Every setting, its environment variable and its default are declared in
// one place, the Settings table.
package config
