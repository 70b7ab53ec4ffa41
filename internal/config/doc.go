// Package config parses each binary's settings from command-line flags and
// environment variables. Every setting has both; a flag given on the command
// line wins over the variable, and the variable wins over the default.
//
// Each binary's configuration is a value ([Worker], [Publisher],
// [BatchServer], ...) built by a Load function that takes its flag set,
// arguments and environment lookup, so it is tested without process state.
// [Settings] lists every setting a binary reads, for docs and deploy checks.
package config
