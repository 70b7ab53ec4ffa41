// Package embeddingstreamv1 holds the generated Go code for the
// IngestDataStream wire contract (embedding_stream.proto, beside this file).
//
// Regenerate with `go generate ./proto/...` after editing the .proto; CI fails
// when the committed code is stale.
package embeddingstreamv1

//go:generate ../../generate.sh
