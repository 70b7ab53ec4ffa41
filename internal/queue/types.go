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
// file_name is required; see README "Job message".
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
)

// Status is a job's record in the ingest_jobs KV bucket (key = job id), as
// JSON.
type Status struct {
	JobID        string    `json:"job_id"`
	Domain       string    `json:"domain"`
	FileName     string    `json:"file_name"`
	Source       string    `json:"source"`
	State        string    `json:"state"`
	Attempts     int       `json:"attempts"`
	RecordsTotal uint64    `json:"records_total"`
	RecordsSent  uint64    `json:"records_sent"`
	ChunksSent   uint64    `json:"chunks_sent"`
	BytesSent    uint64    `json:"bytes_sent,omitempty"`
	Duplicate    bool      `json:"duplicate,omitempty"` // the batch server had committed it already
	Error        *JobError `json:"error,omitempty"`
	Worker       string    `json:"worker,omitempty"`
	EnqueuedAt   time.Time `json:"enqueued_at,omitzero"`
	StartedAt    time.Time `json:"started_at,omitzero"` // start of the latest attempt
	UpdatedAt    time.Time `json:"updated_at"`
	FinishedAt   time.Time `json:"finished_at,omitzero"`
	History      []Attempt `json:"history,omitempty"` // one entry per finished attempt, oldest first
	Revision     uint64    `json:"-"`                 // KV revision, for compare-and-set updates

	// RetryingSince is when the current run of transient failures began:
	// the job's first transient failure since it last succeeded, was
	// dead-lettered or was replayed. Its retry budget counts from here.
	RetryingSince time.Time `json:"retrying_since,omitzero"`
	// NextRetryAt is when the job's next attempt is due, while it waits
	// to be retried (state retrying).
	NextRetryAt time.Time `json:"next_retry_at,omitzero"`
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
)

// Attempt records how one delivery of a job ended.
type Attempt struct {
	Attempt    int       `json:"attempt"`
	Worker     string    `json:"worker,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Outcome    string    `json:"outcome"` // succeeded, retrying, failed, shutdown
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
