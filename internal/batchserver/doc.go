// Package batchserver is the reference implementation of the batch server:
// the receiving end of the push contract (proto/embeddingstream/v1,
// contract v2: IngestDataStream with resumable streams, and GetIngestState),
// and the calling end of pull mode ([Server.Pull]: DatasetService on a
// worker), used for local runs, docker compose, benchmarks and every test
// in this project. The production batch server is a Java
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
//     times the bytes received (metadata and chunks, over every stream
//     that staged the ingest) plus [OutputSlackBytes] (checked as it is
//     written; not with Discard, which writes nothing).
//   - The resume point (v2): resume_from_sequence is 0 exactly when
//     resume_from_record is, and resume_from_record <= total_records.
//   - If the ingest_id is committed already, the server answers at once with
//     duplicate=true and applies nothing, without reading the rest of the
//     stream (the client sees io.EOF from Send and takes the answer from
//     CloseAndRecv), whatever the resume point. This holds across restarts:
//     the ledger is replayed on start. The contract makes ingest_id the
//     idempotency key, so this holds even when the committed entry has
//     another domain or source_sha256 (a client reusing an id, or a file
//     rewritten between deliveries): nothing is applied, and the answer's
//     message and a warning in the log say what differs, so the data can be
//     re-ingested under a new id.
//   - At most one stream per ingest_id is received at a time, so two can
//     never both commit. If another stream with the same ingest_id is past
//     its metadata right now: a stream with the same or an earlier attempt
//     is answered ABORTED (transient) at once, and its retry later finds the
//     commit (duplicate=true) or a free id; a stream with a later attempt
//     takes over: the queue redelivered the job because it gave the earlier
//     delivery up (its worker died or lost the lease), so the earlier stream
//     is answered ABORTED and applies nothing (what it staged stays), and
//     the later one proceeds. If the earlier stream's commit has already
//     begun, the later one waits for it and is answered duplicate=true. This
//     keeps a half-dead stream of a crashed worker from blocking the job's
//     redeliveries until they run out.
//   - Holding the id, a full stream (resume_from_sequence 0) replaces
//     whatever the id had staged. A resumed stream (resume_from_sequence s
//     > 0) continues the id's staging: its resume point must be exactly the
//     staged state (staged_chunks = s, staged_records =
//     resume_from_record) and its source_sha256, domain, total_records and
//     schema those of the staged chunks; otherwise it is answered ABORTED
//     with a message saying what differs (or that nothing is staged), and
//     the staging is left as it is: the client asks GetIngestState again.
//     A staging full to Config.StagingMaxBytes answers RESOURCE_EXHAUSTED.
//   - Chunks follow with sequence s, s+1, ... (s = 0 for a full stream) and
//     no gaps, and first_record equal to the records received (or staged)
//     before the chunk. Each chunk must carry every schema column in order,
//     in the values case of its field type, with exactly record_count values
//     (vectors: record_count*vector_dim floats and dim == vector_dim);
//     null_indices only on nullable fields, strictly ascending and below
//     record_count; no NaN or ±Inf in DOUBLE or FLOAT_VECTOR values; valid
//     UTF-8 strings; valid JSON text in JSON columns (value checks skip null
//     slots). See wire.ChunkFromWire (UTF-8 is checked by protobuf-go as it
//     unmarshals each message).
//   - Records beyond total_records fail the stream as soon as the chunk that
//     crosses it arrives. When the client half-closes, the records staged and
//     received must equal total_records; then the ingest is committed, all
//     or nothing (the staged chunks and the new ones together), and the
//     stream is answered with the records and chunks received on it (the
//     ledger entry has the totals).
//
// Any rule broken gives INVALID_ARGUMENT, naming the chunk, column and row
// where it applies; nothing is committed, and the id's staging is dropped
// (the client treats the error as permanent). Two failures are answered by
// grpc-go itself, before the server sees the message, and so carry grpc-go's
// codes: a message larger than Config.MaxRecvMsgSize gets
// RESOURCE_EXHAUSTED, and a message that does not unmarshal (e.g. a string
// field that is not valid UTF-8, which protobuf-go refuses) gets INTERNAL.
// Clients should never send either: protobuf-go also refuses to marshal
// invalid UTF-8, so a Go client must clean or refuse such strings before it
// builds a chunk. Failures of the server's own storage are UNAVAILABLE
// (transient). A stream the client cancels, or that breaks, commits nothing
// and keeps what it staged.
//
// # GetIngestState
//
// [Server.GetIngestState] answers, for a valid ingest_id: committed=true
// with the ledger's source_sha256, domain, total_records (the records
// committed) and attempt; or the staged state: staged_chunks and
// staged_records up to the last synced boundary only (chunks received but
// not yet fsynced are not reported), the staging stream's source_sha256,
// domain, total_records and schema, the attempt and chunk options of the
// stream that synced the last boundary, and staged_expires_at_unix_ms; or,
// with neither (an unknown id, or chunks without records), every field
// but ingest_id empty. An invalid ingest_id is INVALID_ARGUMENT.
//
// # Output layout
//
// Under Config.OutDir:
//
//	<domain>/<ingest_id>.jsonl   one committed ingest: one canonical JSON
//	                             object per record, in stream order (see
//	                             package canonical)
//	ledger.jsonl                 one line per commit
//	.staging/<id>.jsonl          the staged records of an unfinished ingest
//	                             (not with Discard)
//	.staging/<id>.manifest       its manifest (see Staging)
//	.lock                        flock held while a server uses the directory
//
// Records are converted chunk by chunk (wire.ChunkFromWire, then
// canonical.WriteTable) into the staged JSONL as they arrive: the server
// never holds more than one chunk of a stream in memory, and the JSONL of a
// resumed ingest is byte for byte the one a single full stream writes. The
// commit flushes and fsyncs the staged JSONL, renames it to its final name,
// fsyncs the directory, appends the ledger entry and fsyncs the ledger, then
// removes the manifest. So a committed file is always complete, and never
// half-written, even across a SIGTERM or a crash.
//
// # Staging
//
// A stream's chunks are staged durably per ingest_id, so that a retry
// after a broken stream, a cancelled one or a server crash sends only the
// missing chunks. The manifest is JSON lines: the first is the metadata of
// the full stream that created the staging (ingest_id, domain, file_name,
// source_sha256, total_records, schema, attempt, chunk_options, discard,
// created_at), written to a temp file, fsynced and renamed into place with
// the staging's first boundary (a stream that commits before any boundary
// never writes a manifest, and nothing of it is staged); each
// later line is a synced boundary (chunks, records, bytes: the JSONL's
// length at the boundary, received: the bytes received up to it, attempt
// and chunk_options of the stream that synced it, at). A boundary is
// synced by flushing and fsyncing the JSONL, then appending the line and
// fsyncing the manifest, so a boundary never names bytes that are not on
// disk. Syncs are grouped: after a chunk, once Config.StagingSyncBytes
// bytes were written since the last boundary (with Discard: received), or
// Config.StagingSyncInterval after it; and when a stream ends without a
// commit (broken, cancelled, stopped, preempted), its complete chunks are
// synced as a last boundary. Only a crash loses the unsynced chunks.
//
// Staging is removed when its ingest commits; when a full stream replaces
// it; when its stream is refused as invalid or fills the staging area;
// when a stream ends with no records synced; and StagingTTL (default 24h)
// after its last synced boundary, by a clean-up loop (it skips ids a
// stream holds). The staging area (JSONL and manifests) is bounded by
// Config.StagingMaxBytes: a stream that would start past it, or whose
// writes would take it past it, is answered RESOURCE_EXHAUSTED (transient),
// and the latter's staging is dropped to free the area.
//
// [New] recovers the staging area: it removes files that belong to no
// manifest, cuts a torn last manifest line (a crash during an append),
// truncates each JSONL back to its last synced boundary, and drops, with a
// warning, stagings whose manifest header is torn or a line before the
// last is corrupt, whose JSONL is shorter than the boundary, that were
// staged in the other Discard mode, that expired while the server was
// down, or whose ingest is committed. The temp directory of servers
// before v2 (.tmp) is removed.
//
// # Pulling
//
// [Server.Pull] calls DatasetService.StreamDataset on a worker (a
// connection from [DialWorker]: TLS from [LoadClientTLS], a bearer token)
// and feeds the server stream it receives to the same stream handler as a
// push: the metadata and every chunk are checked, staged and committed
// exactly as above, the worker's OK standing for the half-close, so a pulled
// ingest's JSONL and ledger line are those a push of the same file writes.
// A stream the worker ends with a permanent status (INVALID_ARGUMENT for
// rows failing their domain, NOT_FOUND, FAILED_PRECONDITION, ...) is
// rejected and its staging dropped; a transient one (UNAVAILABLE,
// RESOURCE_EXHAUSTED, a cancellation) keeps what was staged. Errors that
// come from the worker keep its code and say "worker:" first. A pull with
// an ingest_id is not made at all when the id is committed (the result is
// a duplicate), and resumes the id's staged chunks when there are some
// (asking the worker to start after them; a stream that does not continue
// them is pulled whole instead). Pulls count in [Stats] like pushes, and in
// Stats.Pulls; [Result.Pulled] marks them, and their log line says
// "pull": true. Fault injection does not apply to pulls.
//
// # Contract v1 mode
//
// With Config.Contract = [ContractV1] (--contract v1, BATCH_CONTRACT) the
// server behaves as a server built from the v1 contract would, for tests of
// clients against v1 servers: GetIngestState is not registered (gRPC
// answers UNIMPLEMENTED); resume_from_sequence, resume_from_record and
// chunk_options are ignored as the unknown fields they are to v1, so a
// resumed stream, whose first chunk has sequence s > 0, is answered
// INVALID_ARGUMENT (a sequence gap), and one with nothing left to send ends
// short of total_records (INVALID_ARGUMENT); a stream writes a temp JSONL
// in .staging with no manifest and no intermediate fsync, removed when the
// stream ends without a commit, and a start removes all staging.
//
// # Ledger
//
// ledger.jsonl holds one JSON object per line per commit ([Entry]):
// ingest_id, domain, file_name, records, chunks, sha256, attempt,
// resumed_from (the sequence the committing stream resumed from, when it
// did), committed_at. [New] replays it to know every committed ingest_id. A torn
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
// and commit nothing (what they received stays staged). A commit that has
// begun always finishes (Stop waits for handlers). In-flight streams
// therefore either commit or are abandoned uncommitted.
//
// # Discard mode
//
// With Config.Discard (--discard, BATCH_DISCARD) every stream is received and
// validated exactly as above and commits are recorded in the ledger (so
// duplicates are still detected), but no JSONL is written: for benchmarks,
// where the disk would be the bottleneck. Staging keeps its manifests, so
// resumes work as without Discard.
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
// attempt, records, chunks, the chunks and records it resumed from,
// outcome and, on failure, the status code. [Server.Stats] counts streams
// by outcome, resumes, and the staging area's ingests and bytes;
// [Server.Committed] looks up the ledger; [Hooks] let tests wait for
// chunks, synced boundaries, dropped stagings and stream ends instead of
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
