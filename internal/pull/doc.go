// Package pull is the worker's pull mode: a gRPC server implementing the
// contract's DatasetService (proto/embeddingstream/v1), which a batch
// server calls to receive a dataset as a server stream, instead of the
// worker pushing it (internal/ingest). It is a front end of the same stages
// as push: the dataset stage (internal/dataset: safe names, limits, read,
// hash, decode), the domain's checks (internal/domain) and the chunk
// encoder (internal/chunk), so a pulled stream carries exactly the bytes a
// pushed one would.
//
// # A call
//
// [Server.StreamDataset] serves one DatasetRequest:
//
//  1. it checks the request (domain and ingest_id syntax, one source, a
//     name, the resume rule) and looks the domain up;
//  2. it loads the file through the dataset stage: a name under the data
//     directory, refused when absolute, holding "..", or resolving
//     outside it, or an object of the object store; at most MAX_FILE_BYTES,
//     under the pickle limits;
//  3. it checks the schema against the domain before the first message
//     leaves (required fields, types, embedding dimension);
//  4. it sends the metadata (ingest_id: the request's, or
//     "pull-<domain>-<first 16 hex digits of source_sha256>"; attempt 1;
//     the resume point when the request has one), then the chunks from the
//     resume point, cut by the request's options or the worker's defaults,
//     while the rows are validated alongside; a stream whose rows fail
//     their domain ends with INVALID_ARGUMENT after its chunks, so the
//     caller discards all of it;
//  5. it ends the stream with OK, which the caller takes as the commit.
//
// # Flow control and memory
//
// The encoder runs one chunk ahead of the send ([chunk.Encoder.Pipe]) and
// a send blocks while gRPC's flow-control window to the caller is full, so
// the stream goes exactly as fast as the caller reads, and a call holds
// the loaded dataset, one chunk being encoded and what the transport
// buffers, whatever the file's size. A caller that cancels ends the call's
// context: the encoder stops, the validation is awaited, the dataset is
// released and the slot freed before the handler returns. Every call
// holds one of Config.Concurrency slots from before the load to the end;
// a call finding none free is refused at once with RESOURCE_EXHAUSTED (the
// caller retries; nothing waits in the worker).
//
// # Status codes
//
// One classifier ([Code]) maps every failure onto the contract's codes:
//
//   - NOT_FOUND: no such file or object;
//   - INVALID_ARGUMENT: a bad request (syntax, no source, an unknown
//     domain, a resume point outside the dataset), an unsafe name, or data
//     failing the domain's checks (the message names the field and the
//     row);
//   - FAILED_PRECONDITION: a file that is not a readable pickle (malformed,
//     refused, unsupported; not a pickle at all, a corrupt or refused
//     container), data that cannot be encoded, or an object name on a
//     worker without an object store;
//   - RESOURCE_EXHAUSTED: a file above MAX_FILE_BYTES (unwrapped, for a
//     container), the pickle limits or the memory budget, or every pull
//     slot busy;
//   - UNAVAILABLE: the worker is stopping, or a transient failure (an I/O
//     error, a file that changed while it was read, also one truncated
//     while it was mapped, the object store unreachable);
//   - UNAUTHENTICATED: a token is configured and the call did not carry it.
//
// # Security
//
// With Config.Token set, every DatasetService call must carry
// "authorization: Bearer <token>", compared in constant time; the health
// service answers without it (probes). Config.TLS serves TLS, and with
// client CAs mutual TLS, exactly as the batch server does.
//
// # Scaling and shutdown
//
// The server keeps no state between calls: any number of workers may serve
// behind one address (a Kubernetes Service), and a caller retries anywhere.
// It serves the standard gRPC health service (SERVING for "" and for
// embeddingstream.v1.DatasetService). [Server.Serve] stops when its context
// ends, the way the worker drains its jobs: health turns NOT_SERVING, new
// calls are refused (UNAVAILABLE), running ones get Config.StopTimeout
// (SHUTDOWN_TIMEOUT) to finish, and are then cancelled, ending with
// UNAVAILABLE.
//
// # Observing it
//
// Every log line of a call carries its request_id and, once known, its
// ingest_id: one when the dataset is loaded, progress every 5 s, one when
// the call ends (outcome, code, records, chunks, bytes, durations).
// [Metrics] count calls by domain and outcome, records and bytes sent,
// durations and calls in flight; [Hooks] let tests wait for a call to hold
// its slot, to send a chunk and to end.
package pull
