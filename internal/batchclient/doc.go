// Package batchclient streams one dataset to a batch server over the
// IngestDataStream contract (proto/embeddingstream/v1).
//
// # Streams
//
// [Client.Stream] opens one client stream per ingest attempt: the metadata
// message first, then the table's rows as DataChunks bounded both by a record
// count and by their encoded size, then a half-close and the server's single
// response. Chunks are encoded on a separate goroutine while the previous
// chunk is on the wire (a pipeline one chunk deep), straight from the
// table's columns into pooled buffers, with no intermediate message tree:
// vectors are copied once, as blocks, into the encoded message, which gRPC
// then sends as it is. The bytes are exactly what proto.Marshal would write.
//
// Every stream has its own deadline derived from the data size, and its
// context is cancelled on every return path, so a broken stream never leaks.
//
// # Errors
//
// The server's status codes are mapped onto two sentinels so callers never
// inspect gRPC codes themselves:
//
//   - [ErrRejected]: INVALID_ARGUMENT or FAILED_PRECONDITION, or a record too
//     large to fit into one message ([ErrRecordTooLarge] wraps it). Retrying
//     the same data cannot succeed.
//   - [ErrUnavailable]: every other failure (UNAVAILABLE, DEADLINE_EXCEEDED,
//     RESOURCE_EXHAUSTED, ABORTED, connection errors, ...). The whole stream
//     may be retried under the same ingest_id.
//
// When the caller's context ends, Stream returns the context's cause
// (wrapped) instead, so a shutdown or a lost lease is told apart from a
// server failure.
package batchclient
