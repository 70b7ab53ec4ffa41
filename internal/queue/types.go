package queue

import (
	"encoding/json"
	"time"
)

// Names of the JetStream resources; the job stream's name is configurable
// (NATS_STREAM), the rest are fixed by the contract with other tools.
const (
	DefaultStream    = "INGEST"         // job stream (work-queue retention)
	SubjectPrefix    = "ingest.jobs."   // jobs are published on ingest.jobs.<domain>
	SubjectWildcard  = "ingest.jobs.>"  // the job stream's subjects
	DLQStream        = "INGEST_DLQ"     // dead-letter stream
	DLQSubjectPrefix = "ingest.dlq."    // dead letters on ingest.dlq.<domain>
	ConsumerName     = "ingest-workers" // the workers' durable pull consumer
	StatusBucket     = "ingest_jobs"    // KV bucket of job status records, key = job id
	FilesBucket      = "ingest_files"   // object store bucket for uploaded files
	DuplicateWindow  = 10 * time.Minute // the job stream's Nats-Msg-Id window
	HeaderMsgID      = "Nats-Msg-Id"    // job id header (JetStream dedupe)
	SourceFile       = "file"           // Job.Source: DATA_DIR/<file_name>
	SourceObject     = "object"         // Job.Source: object store bucket ingest_files
)

// Job is one ingest job: the JSON message on ingest.jobs.<domain>. Only
// file_name is required; see README "Jobs".
type Job struct {
	ID         string     `json:"job_id,omitempty"`
	Domain     string     `json:"domain,omitempty"`
	FileName   string     `json:"file_name"`
	Source     string     `json:"source,omitempty"` // "file" (default) or "object"
	Options    JobOptions `json:"options,omitzero"`
	EnqueuedAt time.Time  `json:"enqueued_at,omitzero"`
}

// JobOptions tunes how one job is streamed; zero values mean the worker's
// defaults.
type JobOptions struct {
	ChunkRecords int   `json:"chunk_records,omitempty"`
	ChunkBytes   int64 `json:"chunk_bytes,omitempty"`
}

// Job states, as stored in [Status.State].
const (
	StateQueued    = "queued"
	StateRunning   = "running"
	StateRetrying  = "retrying"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	// StateCanceled: an operator canceled the job ([Queue.CancelJob]);
	// nothing of it was committed and it has no dead letter.
	StateCanceled = "canceled"
)

// States lists the job states in the order a job goes through them.
func States() []string {
	return []string{StateQueued, StateRunning, StateRetrying, StateSucceeded, StateFailed, StateCanceled}
}

// Finished reports whether state is final: succeeded, failed or canceled.
func Finished(state string) bool {
	return state == StateSucceeded || state == StateFailed || state == StateCanceled
}

// Phases of a running attempt, as stored in [Status.Phase].
const (
	// PhaseLoading: the worker reads and decodes the file.
	PhaseLoading = "loading"
	// PhaseStreaming: chunks are being handed to the batch server's stream.
	PhaseStreaming = "streaming"
	// PhaseCommitting: every chunk was sent and validation passed; the
	// worker waits for the batch server to commit and answer.
	PhaseCommitting = "committing"
)

// Status is a job's record in the ingest_jobs KV bucket (key = job id), as
// JSON.
type Status struct {
	JobID        string `json:"job_id"`
	Domain       string `json:"domain"`
	FileName     string `json:"file_name"`
	Source       string `json:"source"`
	State        string `json:"state"`
	Attempts     int    `json:"attempts"`
	RecordsTotal uint64 `json:"records_total"`
	// RecordsSent counts the records handed to the batch server's stream
	// (sent, not yet acknowledged: the server answers once, at commit).
	RecordsSent uint64 `json:"records_sent"`
	// RecordsAcked counts the records the batch server acknowledged: 0
	// until it answered the attempt's stream, then what it committed.
	RecordsAcked uint64    `json:"records_acked"`
	ChunksSent   uint64    `json:"chunks_sent"`
	BytesSent    uint64    `json:"bytes_sent,omitempty"`
	Duplicate    bool      `json:"duplicate,omitempty"` // the batch server had committed it already
	Error        *JobError `json:"error,omitempty"`
	Worker       string    `json:"worker,omitempty"`
	// Phase is what the running attempt does now (PhaseLoading,
	// PhaseStreaming, PhaseCommitting), since PhaseSince; empty when no
	// attempt runs.
	Phase      string    `json:"phase,omitempty"`
	PhaseSince time.Time `json:"phase_since,omitzero"`
	// StreamingSince is when the latest attempt began streaming: the
	// start of its records/s.
	StreamingSince time.Time `json:"streaming_since,omitzero"`
	// CancelRequestedAt is when an operator asked to cancel the job
	// ([Queue.CancelJob]); the worker running it stops it.
	CancelRequestedAt time.Time `json:"cancel_requested_at,omitzero"`
	// StreamSeq is the job's message in the job stream, as last known
	// (enqueue, replay, delivery): where a cancel finds it.
	StreamSeq  uint64    `json:"stream_seq,omitempty"`
	EnqueuedAt time.Time `json:"enqueued_at,omitzero"`
	StartedAt  time.Time `json:"started_at,omitzero"` // start of the latest attempt
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	History    []Attempt `json:"history,omitempty"` // one entry per finished attempt, oldest first
	Revision   uint64    `json:"-"`                 // KV revision, for compare-and-set updates

	// RetryingSince is when the current run of transient failures began:
	// the job's first transient failure since it last succeeded, was
	// dead-lettered or was replayed. Its retry budget counts from here.
	RetryingSince time.Time `json:"retrying_since,omitzero"`
	// NextRetryAt is when the job's next attempt is due, while it waits
	// to be retried (state retrying).
	NextRetryAt time.Time `json:"next_retry_at,omitzero"`
	// RetryDeadline is when the job's retry budget runs out
	// (RetryingSince plus RETRY_BUDGET): a transient failure after it
	// dead-letters the job.
	RetryDeadline time.Time `json:"retry_deadline,omitzero"`
}

// JobError is the class and message of a job's failure.
type JobError struct {
	// Class is a short stable identifier, e.g. "bad_job", "unknown_domain",
	// "unsafe_path", "file_not_found", "bad_pickle", "validation",
	// "server_rejected", "server_unavailable", "nats", "lease_lost",
	// "max_deliveries".
	Class     string `json:"class"`
	Message   string `json:"message"`
	Permanent bool   `json:"permanent"`
}

// Attempt outcomes, as stored in [Attempt.Outcome].
const (
	OutcomeSucceeded = "succeeded" // [Delivery.Succeed]
	OutcomeRetrying  = "retrying"  // [Delivery.Retry]
	OutcomeFailed    = "failed"    // [Delivery.Fail]
	OutcomeShutdown  = "shutdown"  // [Delivery.HandBack]
	OutcomeCanceled  = "canceled"  // [Delivery.Cancel]
)

// Attempt records how one delivery of a job ended.
type Attempt struct {
	Attempt    int       `json:"attempt"`
	Worker     string    `json:"worker,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Outcome    string    `json:"outcome"` // succeeded, retrying, failed, shutdown, canceled
	Error      *JobError `json:"error,omitempty"`
}

// DeadLetter is a message on ingest.dlq.<domain> in the INGEST_DLQ stream.
type DeadLetter struct {
	JobID     string          `json:"job_id"`
	Domain    string          `json:"domain"`
	Subject   string          `json:"subject"`           // the job's original subject
	Job       json.RawMessage `json:"job"`               // the original job message, verbatim
	JobRaw    []byte          `json:"job_raw,omitempty"` // the original message when it is not JSON, or its first DeadLetterJobBytes when truncated (base64)
	Error     JobError        `json:"error"`
	Attempts  int             `json:"attempts"`
	Worker    string          `json:"worker,omitempty"`
	Reason    string          `json:"reason"` // "permanent_error", "retries_exhausted", "max_deliveries"
	FailedAt  time.Time       `json:"failed_at"`
	StreamSeq uint64          `json:"stream_seq"`        // the job's sequence in the job stream
	DLQSeq    uint64          `json:"dlq_seq,omitempty"` // filled when read back from INGEST_DLQ

	// JobSize and JobSHA256 are the original job message's size in bytes
	// and its sha256 (hex), kept whole when the record keeps only part of
	// the message (JobTruncated: JobRaw holds its first
	// [DeadLetterJobBytes] bytes; such a dead letter cannot be replayed).
	JobSize      int    `json:"job_size,omitempty"`
	JobSHA256    string `json:"job_sha256,omitempty"`
	JobTruncated bool   `json:"job_truncated,omitempty"`
}
