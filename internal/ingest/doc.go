// Package ingest is the worker's engine: it consumes jobs from the JetStream
// work queue and runs each one, loading its pickle, validating it against
// its domain and streaming it to the batch server, so that every job is
// applied exactly once in effect however workers crash, restart or scale.
//
// # Parts
//
//   - [Processor] runs one attempt of one job, and is orchestration only:
//     look up the domain, load the file through the dataset stage
//     (internal/dataset: DATA_DIR or the object store, bounded by
//     MAX_FILE_BYTES, hashed while the pickle loads), then stream it through
//     a [Streamer] (internal/batchclient, on the contract of internal/sink)
//     while validating it against its domain; the stream is committed only
//     once validation has passed (sink.Options.BeforeCommit), and cancelled
//     (nothing applied) if it fails. It knows nothing of acks or status.
//   - [Worker] is the run loop: it binds the durable consumer
//     (queue.Queue.Jobs), pulls one job per free slot (never more than it
//     can run), keeps each job's lease, and maps every outcome onto one of
//     the delivery's transitions (queue.Delivery). The queue package owns
//     the delivery: it parses the job once, writes the status record and
//     settles the message in the right order, builds the dead letter and
//     republishes a handed-off job. The worker keeps the policy: which
//     transition an outcome takes, backoff, classification, how long a
//     lease may go unconfirmed, shutdown, logs and metrics.
//   - [Classify] is the one place where an error becomes a class (the stable
//     strings of queue.JobError.Class) and a verdict: permanent or transient.
//
// # Memory
//
// A job's file is read whole into an internal/filebuf buffer (an anonymous
// mapping outside the Go heap, filled by parallel reads), and the decoded
// table points into it: strings, bytes and float32 vector rows are slices of
// the file, not copies. The dataset stage owns the buffer: the [Processor]
// releases the job's dataset when the attempt returns, whatever its
// outcome, once every goroutine reading the table (the validation, which
// holds its own reference, and the streamer's encoder, joined before Stream
// returns) has ended; the stage's pool reuses the buffer for the next file
// and unmaps it when full or idle. Nothing that outlives an attempt may
// refer to the table: errors copy the names they carry. A worker's peak
// memory is about 1.8x the file for a DataFrame of embeddings (see
// docs/performance.md).
//
// # Outcomes
//
// Each outcome is counted in the metrics before its transition writes the
// status, so the metrics never lag behind a finished status record.
//
//   - success (including the batch server's duplicate=true): DoubleAck, so
//     the worker knows the ack landed; status succeeded.
//   - transient failure while the job's retry budget lasts (RETRY_BUDGET,
//     counted from the first transient failure of its current run: a
//     success, a dead letter or a replay starts a new run): NakWithDelay
//     with an exponential backoff with jitter (RETRY_BACKOFF_MIN doubling up
//     to RETRY_BACKOFF_MAX); on the last allowed delivery, where a Nak
//     would exhaust the deliveries, the job is handed off instead
//     (queue.Delivery.Reschedule), carrying the run's start; status
//     retrying, with retrying_since and next_retry_at. MAX_DELIVER bounds
//     only deliveries whose worker died or lost its lease.
//   - permanent failure, or a transient one once the budget is spent: the
//     dead letter is published first, and the message terminated only once
//     that publish is stored (if it is not, the job is rescheduled and
//     comes back); status failed.
//   - shutdown: jobs still running after SHUTDOWN_TIMEOUT are cancelled and
//     Nak'd without delay, so another worker takes them at once. This is not
//     a failure: nothing is dead-lettered and the status says retrying with
//     class shutdown. On the last allowed delivery a Nak would exhaust the
//     deliveries (and the MAX_DELIVERIES advisory would dead-letter the
//     job), so the job is handed off instead: its body is republished on
//     its subject with its id (header Embedstream-Job-Id), Nats-Msg-Id
//     "<id>:handoff:<stream seq>:<attempt>" and queue.HeaderAttemptsBefore
//     (so attempt numbers keep increasing), and the delivery is terminated
//     ("shutdown handoff") once JetStream has stored the copy; if that
//     publish fails, it is Nak'd (queue.Delivery.HandBack). A job fetched
//     while stopping is handed back the same way, its status left alone
//     (queue.Delivery.Release).
//   - lease lost: a job whose lease extensions cannot be confirmed is
//     cancelled and neither acked nor Nak'd; JetStream redelivers it.
//   - superseded: an attempt that fails after a later delivery of the same
//     job has started (its lease ran out without it noticing, e.g. in a
//     starved process) settles nothing either: a Nak or Term sent for it
//     would act on the live delivery. A success is always acked: the data
//     is committed, and the batch server answers the other delivery
//     duplicate=true.
//   - canceled by an operator (queue.Queue.CancelJob): the worker hears it
//     announced (queue.CancelSubject) or reads it in the status record as
//     it writes progress (or at its start), cancels the attempt's stream
//     (nothing is committed; BeforeCommit refuses too), terminates the
//     message and writes state canceled (queue.Delivery.Cancel): no dead
//     letter. A stream that committed first wins: the job succeeded.
//   - deliveries exhausted with no worker left to report it (every worker
//     holding it crashed): the MAX_DELIVERIES advisory is handled by moving
//     the job to the dead letters (queue.Queue.DeadLetterBySeq), with the
//     same attempts a worker's dead letter would record.
//
// # Leases
//
// While a job runs, the worker extends its AckWait every AckWait/3 with an
// in-progress ack, "+WPI", sent as a request on the message's reply subject
// (queue.Delivery.ExtendLease; msg.InProgress is fire and forget). The server's reply proves only that
// it received the ack while the message was pending, not that this
// delivery still holds it: a process paused for longer than AckWait would
// get a reply on its next tick although the job was redelivered meanwhile.
// So the worker checks the time since the last confirmed extension before
// every extension and once more just before the stream commits: AckWait or
// more, or two failed extensions in a row, and the job is cancelled (and
// not committed): it may already be running elsewhere. A zombie that
// slipped through anyway would only waste work: the batch server
// deduplicates. Extensions are counted in
// embedstream_worker_lease_extensions_total{result}.
//
// # Shutdown
//
// [Worker.Run] uses two contexts: its argument stops fetching; running jobs
// continue on a context detached from it, cancelled with a shutdown cause
// once the grace period ends. Final acks and status writes use a fresh
// bounded context, never the job's cancelled one.
//
// # Progress
//
// The status record says what a running attempt does (queue.Status.Phase):
// loading (from its start), streaming (the file is loaded: Observer.Loaded),
// committing (every chunk sent and validated: Observer.BeforeCommit; the
// worker waits for the batch server's answer). records_sent counts records
// handed to the stream; records_acked is 0 until the batch server answered,
// then what it committed. The record is written at most every
// StatusInterval while the counters move, at once when the phase changes,
// and at least every ProgressHeartbeat (5 s) while nothing moves, so a long
// load or commit still shows a fresh updated_at.
//
// # Heartbeats
//
// Every Heartbeat (queue.WorkerHeartbeat, 10 s) the worker writes its
// record in queue.WorkersBucket: name, host, pid, version, slots, when it
// started, whether it is draining, the jobs it runs (with phase and
// progress) and its finished attempts by outcome. The bucket's TTL drops
// the record of a worker that stopped writing; a clean stop removes it.
//
// # Observability
//
// Every log line on a job's path carries job_id, domain and attempt (the
// job's child logger travels in its context). An attempt that resumes a
// stream the batch server had partly staged (see internal/batchclient)
// logs "stream resumed at resume_chunk" and is counted in
// embedstream_worker_resumes_total and _resumed_records_total; its
// progress (records_sent, chunks_sent) counts the whole dataset, staged
// chunks included, while records_streamed_total and bytes_streamed_total
// count what was sent, and resent_bytes_total the bytes of retried
// attempts. [NewHandler] (or [Worker.Handler]) serves /healthz, /readyz
// and /metrics (see [Metrics]: attempts by outcome, durations in buckets up
// to 12 h, the time jobs waited in the queue before their first delivery,
// records and bytes, deliveries, dead letters, lease extensions, resumes);
// /healthz is 503 once its live check fails (the worker binary's: its NATS
// connection closed for good, and it is exiting);
// /readyz is 503 until the worker is bound to its job consumer, again when
// that consumer is gone or NATS disconnected, and while the MAX_DELIVERIES
// watcher waits to restart after a failure (it is restarted with backoff
// until the worker stops). A consumer MaxDeliver of -1 is unlimited: no
// delivery is the last.
package ingest
