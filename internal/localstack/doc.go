// Package localstack runs the whole embedstream pipeline in one process for
// the local stack (`go run ./publisher/dev`): an embedded NATS server with
// JetStream, the reference batch server, a number of workers and the
// publisher's HTTP API, with no Docker and nothing else installed.
//
// # Configuration
//
// [Start] takes a [Config] of the parts' configurations, already mapped
// from the settings by the local stack's composition root
// (internal/wiring/dev), which also supplies how a worker is built
// ([Config.NewWorker]): this package runs the parts and knows nothing of
// flags or environment variables. The DEV_* settings default to this
// package's constants ([DefaultNATSPort], [DefaultNATSDir],
// [DefaultBatchOutDir], [DefaultWorkers]).
//
// # Lifecycle
//
// Start builds every part before running any (a failure leaves nothing
// behind), then runs them; when its context ends they stop in reverse
// order: HTTP API, workers (which finish or hand back their jobs), batch
// server, NATS. [Stack.Wait] waits for that. The stack also stops by
// itself, the same way, when its NATS connection is closed for good
// ([Stack.Done] is closed and Wait returns the error), so the local stack
// exits non-zero instead of answering 503 forever.
package localstack
