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
// are (chunk.Codec). Every attempt (its GetIngestState and its stream) has
// its own deadline derived from the data size, and its context is
// cancelled on every return path, so a broken stream never leaks. A Send that returns io.EOF stops sending, and
// the server's status comes from CloseAndRecv, called once.
//
// # Resume (contract v2)
//
// Before every attempt the client asks the server GetIngestState for the
// ingest_id and decides how to stream:
//
//   - committed: the stream carries the metadata only, and the server
//     answers duplicate=true;
//   - staged chunks 0..s-1 of the same source_sha256, domain,
//     total_records and schema as the client's: the metadata carries
//     resume_from_sequence = s and resume_from_record = the staged records,
//     and only the chunks from there go out (chunk.Start): the encoder's
//     boundaries depend only on the data, the options and the start;
//   - anything else (nothing staged, another file or schema): a full
//     stream from chunk 0, which replaces what the server had staged.
//
// v2 metadata always carries the encoder's chunk options. A server that
// answers UNIMPLEMENTED speaks contract v1: the attempt sends a full stream
// with v1 metadata (no v2 field at all), and the client remembers it for
// the connection, so later attempts skip the question until the connection
// is re-made (it may then reach another server). A resume point the server
// no longer holds (another attempt changed the staging, or it expired) is
// answered ABORTED: the attempt fails as transient, and the next one asks
// again. Any other GetIngestState failure fails the attempt as a stream's
// would (below). sink.Result says what was resumed (ResumedChunks,
// ResumedRecords; BytesSent is what this attempt sent), sink.Options.Resumed
// is told before the first chunk, and progress counts from the resume
// point.
//
// # Connection
//
// One HTTP/2 connection per Client, made at [New] and re-made after
// failures with a reconnect backoff capped at [ReconnectMaxDelay] (3 s;
// gRPC's default grows to 120 s, which kept the connection asleep for up to
// two minutes after a batch server came back). GetIngestState and the
// stream are opened with gRPC's WaitForReady: while the server is
// unreachable an attempt waits for the connection, within its deadline,
// for at most Config.ReadyTimeout ([DefaultReadyTimeout], 30 s), and then
// fails with "batch server at ADDR not reachable for 30s: <the last
// connection error>" (UNAVAILABLE). A call on a ready connection is not cut
// by that bound. The readiness wait counts against the attempt's deadline
// (BaseTimeout plus the data's size at MinRate: at least 60 s by default,
// so a full wait leaves the stream at least 30 s of slack). The Client logs
// when the connection is lost and when it is back ("batch server
// reconnected", with how long it was down).
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
//     a server not reachable within Config.ReadyTimeout, ...). The attempt
//     may be retried under the same ingest_id (it resumes where the
//     server's staging ends).
//
// When the caller's context ends, Stream returns the context's cause
// (wrapped) instead, so a shutdown or a lost lease is told apart from a
// server failure.
package batchclient
