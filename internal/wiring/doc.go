// Package wiring and its subpackages are the binaries' composition roots:
// settings in, running parts out. Each binary's root declares the settings
// it reads (flags and environment variables, on internal/config's binder
// and shared groups), maps them onto the configurations of its parts
// (queue.Config, ingest.WorkerConfig, httpapi.Config, ...) and builds and
// runs them. The mains stay thin: parse the settings, build the logger,
// take the signal context, call their root, map its error to an exit code.
//
// # One root per binary
//
//   - [github.com/embedstream/embedstream/internal/wiring/worker]: the
//     worker (worker/) and its pull server (PULL_ADDR), also run by the
//     local stack and the benchmark's profiled worker
//     (deploy/bench/cmd/embench);
//   - [github.com/embedstream/embedstream/internal/wiring/publisher]: the
//     publisher's serve and CLI (publisher/), through internal/cli;
//   - [github.com/embedstream/embedstream/internal/wiring/batchserver]: the
//     reference batch server (batchserver/) and its pull subcommand;
//   - [github.com/embedstream/embedstream/internal/wiring/dev]: the local
//     stack (publisher/dev/), made of the three others.
//
// Each root is a package of its own so that a binary links only the parts
// it runs: the production publisher links neither the worker, nor the
// batch server, nor the embedded NATS server, and the batch server links
// no NATS client (this package's tests check the binaries' dependencies).
//
// # Shared settings
//
// This package holds what several roots share: the settings groups [NATS]
// (worker, publisher, local stack) and [Pickle] (worker, local stack),
// bound on internal/config's binder, and the mapping of the NATS settings
// onto the queue's connection options ([Conn]) and topology ([Queue]).
//
// # Defaults
//
// A default is written once, as a constant of the component that uses it
// (queue.DefaultAckWait, ingest.DefaultConcurrency, chunk.DefaultBytes,
// ...); the roots name that constant as the setting's default, and a zero
// field of a component's configuration takes the same constant.
package wiring
