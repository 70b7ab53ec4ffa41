// Package cli is the publisher binary's command line: `publisher serve`
// runs the HTTP API of package httpapi, and the other subcommands (enqueue,
// upload, status, jobs, dlq, inspect, healthcheck, version) talk to NATS
// directly, so they need no running serve. The local stack is a binary of
// its own (`go run ./publisher/dev`); `publisher dev` says so and exits 2.
//
// # Running
//
// [Run] takes the arguments, a ctx that signals cancel, and an [Env] holding
// the output writers and the environment lookup; it returns the exit code
// ([ExitOK], [ExitFailure], [ExitUsage]). Tests call it with buffers and a
// map; publisher/main.go calls it with os.Args, os.Stdout, os.Stderr and
// os.Getenv.
//
// # Settings
//
// Every subcommand reads the publisher's settings (flags over environment
// variables over defaults) and its own flags; flags may follow the
// positional arguments. The settings come through [Env].LoadSettings,
// already mapped onto the parts' configurations ([Settings]): the
// publisher's composition root (internal/wiring/publisher) declares and
// maps them, so this package knows nothing of internal/config. Output is
// text for humans, or JSON with --json.
//
// # Adding a subcommand
//
// A subcommand is a run function in a file of its own plus one entry in
// commands() (cli.go).
package cli
