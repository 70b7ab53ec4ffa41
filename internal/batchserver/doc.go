// Package batchserver is the reference implementation of the batch server:
// the receiving end of the IngestDataStream contract
// (proto/embeddingstream/v1), used for local runs, docker compose, benchmarks
// and every test in this project. The production batch server is a Java
// service; this one implements the same semantics exactly and writes what it
// receives as canonical JSONL, so tests can read it back.
//
// It runs as the batchserver binary or in-process:
//
//	srv, err := batchserver.New(batchserver.Config{OutDir: dir}, log)
//	if err != nil { ... }
//	defer srv.Close()
//	lis, err := net.Listen("tcp", "127.0.0.1:0")
//	if err != nil { ... }
//	err = srv.Serve(ctx, lis) // until ctx is done, then a graceful stop
//
// [Server.Register] and [Server.RegisterHealth] with [Server.ServerOptions]
// put it on a gRPC server of your own instead.
//
// # Stream semantics
//
// One stream carries one ingest attempt:
//
//   - The first message must be IngestMetadata, and only the first. Its
//     ingest_id and domain must be 1-200 characters of [A-Za-z0-9._:-]
//     starting with a letter or digit, attempt >= 1, source_sha256 64
//     lowercase hex digits, and the schema well-formed (unique non-empty
//     names, known types, vector_dim > 0 exactly on FLOAT_VECTOR fields).
//     Beyond the contract, the server bounds what a stream can make it
//     write: a schema must have at least one field unless total_records is
//     0, at most [MaxFields] fields, names of at most [MaxFieldNameBytes]
//     bytes; and the canonical output may not exceed [MaxOutputRatio]
//     times the bytes received (metadata and chunks) plus
//     [OutputSlackBytes] (checked as it is written; not with Discard,
//     which writes nothing).
//   - If the ingest_id is committed already, the server answers at once with
//     duplicate=true and applies nothing, without reading the rest of the
//     stream (the client sees io.EOF from Send and takes the answer from
//     CloseAndRecv). This holds across restarts: the ledger is replayed on
//     start. The contract makes ingest_id the idempotency key, so this holds
//     even when the committed entry has another domain or source_sha256 (a
//     client reusing an id, or a file rewritten between deliveries): nothing
//     is applied, and the answer's message and a warning in the log say
//     what differs, so the data can be re-ingested under a new id.
//   - At most one stream per ingest_id is received at a time, so two can
//     never both commit. If another stream with the same ingest_id is past
//     its metadata right now: a stream with the same or an earlier attempt
//     is answered ABORTED (transient) at once, and its retry later finds the
//     commit (duplicate=true) or a free id; a stream with a later attempt
//     takes over: the queue redelivered the job because it gave the earlier
//     delivery up (its worker died or lost the lease), so the earlier stream
//     is answered ABORTED and applies nothing, and the later one proceeds.
//     If the earlier stream's commit has already begun, the later one waits
//     for it and is answered duplicate=true. This keeps a half-dead stream
//     of a crashed worker from blocking the job's redeliveries until they
//     run out.
//   - Chunks follow with sequence 0, 1, 2, ... and no gaps, and first_record
//     equal to the records received before the chunk. Each chunk must carry
//     every schema column in order, in the values case of its field type,
//     with exactly record_count values (vectors: record_count*vector_dim
//     floats and dim == vector_dim); null_indices only on nullable fields,
//     strictly ascending and below record_count; no NaN or ±Inf in DOUBLE or
//     FLOAT_VECTOR values; valid UTF-8 strings; valid JSON text in JSON
//     columns (value checks skip null slots). See wire.ChunkFromWire (UTF-8
//     is checked by protobuf-go as it unmarshals each message).
//   - Records beyond total_records fail the stream as soon as the chunk that
//     crosses it arrives. When the client half-closes, the records received
//     must equal total_records; then the stream is committed, all or nothing,
//     and answered with the records and chunks received.
//
// Any rule broken gives INVALID_ARGUMENT, naming the chunk, column and row
// where it applies; nothing is written. Two failures are answered by grpc-go
// itself, before the server sees the message, and so carry grpc-go's codes:
// a message larger than Config.MaxRecvMsgSize gets RESOURCE_EXHAUSTED, and a
// message that does not unmarshal (e.g. a string field that is not valid
// UTF-8, which protobuf-go refuses) gets INTERNAL. Clients should never send
// either: protobuf-go also refuses to marshal invalid UTF-8, so a Go client
// must clean or refuse such strings before it builds a chunk.
// Failures of the server's own storage are UNAVAILABLE (transient). A stream
// the client cancels, or that breaks, commits nothing.
//
// # Output layout
//
// Under Config.OutDir:
//
//	<domain>/<ingest_id>.jsonl   one committed stream: one canonical JSON object
//	                             per record, in stream order (see package canonical)
//	ledger.jsonl                 one line per commit
//	.tmp/                        files of streams in progress
//	.lock                        flock held while a server uses the directory
//
// Records are converted chunk by chunk (wire.ChunkFromWire, then
// canonical.WriteTable) into a buffered temp file under .tmp as they arrive:
// the server never holds more than one chunk of a stream in memory. The
// commit flushes and fsyncs the temp file, renames it to its final name,
// fsyncs the directory, then appends the ledger entry and fsyncs the ledger.
// A stream that does not commit has its temp file removed; a start clears
// .tmp. So a committed file is always complete, and never half-written, even
// across a SIGTERM or a crash.
//
// # Ledger
//
// ledger.jsonl holds one JSON object per line per commit ([Entry]):
// ingest_id, domain, file_name, records, chunks, sha256, attempt,
// committed_at. [New] replays it to know every committed ingest_id. A torn
// last line (a crash during an append) is cut off. A crash between the
// rename and the ledger append leaves a committed file without an entry: at
// start the server treats the file's existence as the commit and appends a
// recovered entry ("recovered": true; records counted from the file's
// lines; file_name, sha256, chunks and attempt unknown, so the sha256
// check is skipped for it). A second server on the same directory fails to
// start (the lock).
//
// # Shutdown
//
// [Server.Serve] stops when its ctx is done: the health service turns
// NOT_SERVING, gRPC's GracefulStop refuses new streams and waits for running
// ones; those still running after Config.StopTimeout are cancelled (Stop)
// and commit nothing. A commit that has begun always finishes (Stop waits for
// handlers). In-flight streams therefore either commit or are abandoned
// uncommitted.
//
// # Discard mode
//
// With Config.Discard (--discard, BATCH_DISCARD) every stream is received and
// validated exactly as above and commits are recorded in the ledger (so
// duplicates are still detected), but no JSONL is written: for benchmarks,
// where the disk would be the bottleneck.
//
// # Fault injection
//
// For tests of clients' retry paths:
//
//   - Config.FailFirst (--fail-first N, BATCH_FAIL_FIRST): the first N
//     streams are answered UNAVAILABLE before anything is read from them.
//   - Config.FailRate (--fail-rate P, BATCH_FAIL_RATE): after those, each
//     stream is answered UNAVAILABLE with probability P, drawn from a
//     generator seeded with Config.FailSeed (--fail-seed, BATCH_FAIL_SEED,
//     default 1), so the same seed fails the same streams.
//   - Config.ChunkDelay (--chunk-delay D, BATCH_CHUNK_DELAY): the server
//     sleeps D after each chunk (a slow server); the sleep ends early when
//     the stream is cancelled.
//
// # Observing it
//
// Every stream is logged once when it ends, with ingest_id, domain,
// attempt, records, chunks, outcome and, on failure, the status code.
// [Server.Stats] counts streams by outcome; [Server.Committed] looks up the
// ledger; [Hooks] let tests wait for chunks and stream ends instead of
// sleeping. The standard gRPC health service (grpc.health.v1) reports
// SERVING for "" and for embeddingstream.v1.EmbeddingStreamService until a
// stop begins; the binary's healthcheck subcommand queries it
// (internal/healthprobe).
//
// # Transport
//
// [Server.ServerOptions] sets the receive limit (Config.MaxRecvMsgSize,
// default 16 MiB), the streams one connection may hold open
// (Config.MaxConcurrentStreams, default 100; a client's further streams
// wait), 16 MiB flow-control windows, 256 KiB read and write
// buffers, and TLS from Config.TLS ([LoadTLS]: a server certificate, and
// with a client CA, mutual TLS), so the server is not the bottleneck of a
// loopback benchmark with 1 MiB chunks. Keepalive pings (every 30 s of
// silence, 10 s to answer) close connections of clients that vanished
// without a FIN, which ends their streams. Clients may ping every 10 s or
// more, even without a stream.
package batchserver
