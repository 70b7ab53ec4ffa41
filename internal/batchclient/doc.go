// Package batchclient streams one dataset to a batch server over the
// IngestDataStream contract (proto/embeddingstream/v1): the push front end.
//
// # Streams
//
// [Client.Stream] opens one client stream per ingest attempt and runs its
// lifecycle: the metadata message first, then the dataset's chunks, then
// sink.Options.BeforeCommit, a half-close and the server's single
// response. The messages come from package chunk, which encodes them
// straight from the table's columns (the bytes proto.Marshal would write),
// one chunk ahead of the wire, into pooled buffers that gRPC sends as they
// are (chunk.Codec). Every stream has its own deadline derived from the
// data size, and its context is cancelled on every return path, so a
// broken stream never leaks. A Send that returns io.EOF stops sending, and
// the server's status comes from CloseAndRecv, called once.
//
// # Errors
//
// The server's status codes are mapped onto the two sentinels of package
// sink, so callers never inspect gRPC codes themselves:
//
//   - sink.ErrRejected: INVALID_ARGUMENT or FAILED_PRECONDITION, or data
//     that cannot be sent (bad metadata, a record too large to fit into one
//     message: chunk.ErrRecordTooLarge). Retrying the same data cannot
//     succeed.
//   - sink.ErrUnavailable: every other failure (UNAVAILABLE,
//     DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, connection errors,
//     ...). The whole stream may be retried under the same ingest_id.
//
// When the caller's context ends, Stream returns the context's cause
// (wrapped) instead, so a shutdown or a lost lease is told apart from a
// server failure.
package batchclient
