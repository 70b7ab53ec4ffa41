// Package cli is the publisher binary's command line: `publisher serve`
// runs the HTTP API of package httpapi, and the other subcommands (enqueue,
// upload, status, cancel, jobs, queue, workers, dlq, inspect, healthcheck,
// version) talk to NATS
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
// text for humans, or JSON with --json (the API's shapes).
//
// # Costs
//
// A one-shot command keeps no index of the job status records. `jobs` and
// `queue` therefore ask a running publisher's index when PUBLISHER_URL is
// set (one HTTP request, a page's cost, with API_TOKEN as bearer token);
// without it they read every retained status record once
// (jobindex.Load), a cost that grows with retention, and say so on stderr
// past 10,000 records. The other commands cost what they touch: a status
// record (status, cancel), JetStream's info (queue's own figures), one
// record per worker (workers), the dead letters a filter selects (dlq).
//
// # Errors
//
// A failure is one line on stderr: what failed, then what to do (start
// NATS, fix the file then `publisher dlq replay ID`, set API_TOKEN, ...).
// Console logs are coloured only on a terminal, and closing the
// connection at exit logs nothing.
//
// # Adding a subcommand
//
// A subcommand is a run function in a file of its own plus one entry in
// commands() (cli.go).
package cli
