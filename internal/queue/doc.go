// Package queue is embedstream's JetStream topology and its data: the job
// stream, the workers' durable consumer, the job status bucket, the dead
// letters and the file object store, shared by the worker and the
// publisher. It owns a job's delivery: how a fetched job's message is
// settled and its status record written.
//
// # Topology
//
// [Open] creates or updates, idempotently, everything below (names in
// types.go). Workers apply their settings to what exists; publishers open
// with [Config.KeepTopology], which binds what exists as it is and only
// creates what is missing:
//
//   - the job stream (INGEST by default): subjects ingest.jobs.>, work-queue
//     retention, a 10-minute duplicate window on Nats-Msg-Id, size limits
//     with DiscardNew so a full queue refuses new jobs ([ErrQueueFull])
//     instead of dropping accepted ones, and messages of at most
//     [MaxJobBytes] (a larger job is refused at publish);
//   - the durable pull consumer ingest-workers: explicit ack, AckWait,
//     MaxDeliver, MaxAckPending from [Config]; a later worker Open with
//     other values updates it;
//   - INGEST_DLQ: dead letters on ingest.dlq.<domain> ([DeadLetter]),
//     bounded ([DLQMaxBytes], [DLQMaxMsgs]) with DiscardNew and no age
//     limit, so no dead letter is ever dropped;
//   - <stream>_ADVISORIES: the consumer's MAX_DELIVERIES advisories,
//     captured so that [Queue.WatchMaxDeliveries] sees each one even if no
//     worker was listening when it fired;
//   - KV bucket ingest_jobs: one [Status] per job, key = job id (with '.'
//     and ':' escaped), expiring StatusTTL after its last write;
//   - object store ingest_files: uploaded job files ([Queue.PutFile]);
//   - KV bucket ingest_workers ([WorkersBucket]), bound on first use: the
//     workers' heartbeats ([Queue.PutWorker], [Queue.ListWorkers]), dropped
//     by its TTL ([WorkerTTL]) once a worker stops writing.
//
// # Job ids
//
// A job's id is its ingest_id on every attempt. [ParseJob] takes it from the
// Embedstream-Job-Id header ([HeaderJobID], set on replays), else the
// Nats-Msg-Id header, else the body's job_id, else [DerivedJobID] of the
// stored message. [Queue.Enqueue] publishes with Nats-Msg-Id = job id, so
// JetStream drops a repeat within 10 minutes; after that a job id that has a
// status record is still reported as a duplicate.
//
// # Deliveries
//
// A worker binds the job consumer with [Queue.Jobs] and takes one job per
// free slot with [Consumer.Next], which parses the message once into a
// [Delivery]: the job (or, for a message that is not a valid job, its
// parse error and the job named by id and domain only), its stream
// sequence, the message's delivery count, the job's attempt (deliveries
// plus [HeaderAttemptsBefore], set by a handoff), the store time, the
// subject and the worker. The queue owns everything a delivery does to the
// job's message and status record, through named transitions:
//
//   - [Delivery.Start]: status running (this attempt, this worker, phase
//     loading, the message's stream sequence), unless the job was canceled
//     meanwhile;
//   - [Delivery.Progress]: counters and phase ([Progress]), only while the
//     record still shows this attempt running on this worker;
//   - [Delivery.Succeed]: status succeeded, always written (the data is
//     committed), then DoubleAck;
//   - [Delivery.Reschedule]: status retrying (with the run's
//     RetryingSince, kept across deliveries and handoffs, and
//     NextRetryAt), then NakWithDelay, or, on the last allowed delivery, a
//     handoff at once carrying [HeaderRetryingSince] (a transient failure
//     never spends the last delivery: the retry budget is the caller's
//     policy); [Delivery.Retry] is the same without the handoff;
//   - [Delivery.DeadLetter] then [Delivery.Fail]: the dead letter is
//     published first; Fail writes status failed and Terms the message, and
//     refuses ([ErrNotDeadLettered]) unless the dead letter was stored (if
//     the publish fails, the worker settles with Retry instead);
//   - [Delivery.HandBack] (status retrying, outcome shutdown) and
//     [Delivery.Release] (no status write): Nak without delay, or, on the
//     last allowed delivery, republish the job with [HeaderJobID],
//     Nats-Msg-Id "<id>:handoff:<stream seq>:<attempt>" and
//     [HeaderAttemptsBefore], then Term it once the copy is stored;
//   - [Delivery.Cancel]: status canceled (outcome canceled), then Term: no
//     dead letter; Start and Progress note a cancel request they see in
//     the record ([Delivery.CancelRequested]);
//   - [Delivery.Superseded] and [Delivery.ExtendLease] (the "+WPI"
//     request on the reply subject) for the worker's lease policy.
//
// A success or a failure ends the job's run of retries (RetryingSince and
// NextRetryAt cleared); so does a replay.
//
// Every transition writes the status before it settles the message, so
// the next delivery's "running" comes after this one's outcome; outcomes
// other than success never overwrite a success or a later attempt's
// record; a delivery settles once ([ErrSettled]). Policy stays with the
// caller: when to retry, backoff, classification, how long a lease may go
// unconfirmed, logs and metrics. Nothing else settles job messages: the
// package exposes no JetStream context or raw consumer. Observers read
// [Queue.ConsumerStats] and [Queue.DeadLetterCount]; another component's
// small shared state gets a bucket of its own with [Queue.Bucket].
//
// # Status
//
// [Queue.Enqueue] writes the "queued" record after JetStream acknowledged
// the job, with a KV create that never overwrites a record a worker wrote.
// Deliveries change records through [Queue.UpdateStatus], a
// compare-and-set loop on the KV revision that creates a missing record (a
// job published straight to NATS). [Queue.ListStatus] lists them newest
// first by reading them all; [Queue.WatchStatus] streams changes,
// [Queue.WatchJob] those of one job; [Queue.WatchStatusEvents] streams
// every record, then every write, deletion and purge, for an index that
// must stay exact (internal/jobindex), with [Queue.StatusBucket] giving
// the bucket's TTL and latest revision. [Status.Pace] and
// [Status.Retrying] say what a record tells of a job's pace and retry.
//
// # Cancel
//
// [Queue.CancelJob] records the request in the status record
// (CancelRequestedAt), then removes a waiting job's message from the work
// queue (found at the record's StreamSeq, else by searching its subject)
// and marks it canceled, or announces it on [CancelSubject] for the worker
// running it ([Queue.WatchCancels]), which settles with [Delivery.Cancel].
//
// # Figures
//
// [Queue.Info] reads the queue as JetStream counts it, exact at any
// volume: the job stream's and the dead letters' messages per domain, and
// the job consumer's pending, ack pending, redelivered and waiting pulls
// (three API calls).
//
// # Dead letters
//
// A job's [DeadLetter] is built in one place, from the stored message,
// for both ways a job gets there, which therefore agree on its id, domain
// and attempts (deliveries plus [HeaderAttemptsBefore]). A worker that
// gives up on a job calls [Delivery.DeadLetter] ([Queue.PublishDeadLetter])
// and Terms the message only after it returned nil; the dead letter's
// Nats-Msg-Id "<job id>-dlq-<stream seq>" makes racing publishers store it
// once. A job whose deliveries ran out while no worker could report it is
// found through [Queue.WatchMaxDeliveries] and moved by
// [Queue.DeadLetterBySeq] (unless its status says it succeeded: then only
// its message is removed). [Queue.ReplayDeadLetter] re-publishes the
// original job under the same job id (header [HeaderJobID], Nats-Msg-Id
// "<job id>:replay:<dlq seq>"), moves a failed status back to queued and
// removes the dead letter; [Queue.DeleteDeadLetter] drops it. The replay
// carries the attempts so far ([HeaderAttemptsBefore]). In bulk,
// [Queue.ReplayDeadLetters] and [Queue.PurgeDeadLetters] act on every dead
// letter a [DeadLetterFilter] selects (domain, error class, reason, time).
//
// Records are bounded whatever a job held: a dead letter keeps at most
// [DeadLetterJobBytes] of the job message (with its size and sha256; a
// truncated one cannot be replayed), and error messages in dead letters
// and status records are cut to [MaxErrorBytes].
//
// # Connections
//
// [Connect] dials with [ConnOptions] (URLs, credentials, TLS), reconnects
// forever and does not buffer while disconnected, so a publish the caller
// saw fail is never sent later. A server that refuses the client
// (authorization, TLS) ends Connect at once with [ErrRefused] naming the
// cause; while none answers it logs why and retries (or, with
// [ConnOptions.FailFast], gives up at once). Every URL it logs or puts in
// an error is redacted (internal/clip). [WatchClosed] reports a
// connection NATS closed for good, which never reconnects: the binaries
// then exit non-zero, to be restarted.
//
// # Defaults
//
// The topology's defaults are this package's constants ([DefaultAckWait],
// [DefaultMaxDeliver], [DefaultStatusTTL], [DefaultMaxBytes], ...): a zero
// [Config] field takes them, and the binaries' settings (ACK_WAIT,
// MAX_DELIVER, JOB_STATUS_TTL, QUEUE_MAX_*, ...) default to them.
//
// # Errors
//
// Errors wrap the sentinels in errors.go: [ErrBadJob] (permanent),
// [ErrQueueFull], [ErrUnavailable] (transient), [ErrTooLarge] (a message
// NATS refuses for its size: permanent), [ErrRefused], [ErrClosed],
// [ErrNotFound], [ErrFileNotFound], [ErrStatusWrite], [ErrConflict],
// [ErrFinished]; a consumer's and a
// delivery's: [ErrNoJob], [ErrNoConsumer], [ErrBadDelivery], [ErrSettled],
// [ErrNotDeadLettered].
package queue
