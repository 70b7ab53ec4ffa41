package sink

import (
	"errors"
	"time"
)

var (
	// ErrRejected marks a stream the batch server refused for good, or
	// one that cannot be sent at all (a record larger than a message, a
	// string that is not UTF-8, metadata the contract forbids). Retrying
	// the same data cannot succeed.
	ErrRejected = errors.New("batch server rejected the stream")
	// ErrUnavailable marks a failed stream that may succeed when retried
	// whole under the same ingest_id: the server unreachable, overloaded,
	// out of time, or the connection broken.
	ErrUnavailable = errors.New("batch server unavailable")
)

// Meta is a stream's metadata, besides what the dataset itself says
// (schema and total_records).
type Meta struct {
	IngestID     string    // the job id: the idempotency key at the server
	Domain       string    // e.g. "recruit"
	FileName     string    // the source file's name
	Attempt      uint32    // delivery attempt, 1 on the first
	SourceSHA256 string    // hex sha256 of the source file
	EnqueuedAt   time.Time // zero: unknown
}

// Options bound the chunks of one stream and gate its commit. Zero chunk
// bounds take the sender's defaults.
type Options struct {
	// ChunkRecords is the most records one chunk carries.
	ChunkRecords int
	// ChunkBytes is the target encoded size of one chunk; no chunk ever
	// exceeds the transport's message limit, whatever this says.
	ChunkBytes int64
	// BeforeCommit, if set, is called once every chunk has been sent and
	// before the half-close that lets the server commit. An error cancels
	// the stream instead, so the server applies nothing, and the sender
	// returns it (wrapped). It lets a caller check the data while it
	// streams, e.g. validate the table concurrently and wait for the
	// verdict here.
	BeforeCommit func() error
	// Resumed, if set, is called once, before any chunk goes out, when
	// the stream resumes chunks the server had staged from an earlier
	// attempt: chunks and records are the resume point, what this stream
	// does not send again.
	Resumed func(chunks, records uint64)
}

// Result is the server's answer to a committed stream.
type Result struct {
	RecordsReceived uint64 // records the server received on this stream
	ChunksReceived  uint64 // chunks the server received on this stream
	BytesSent       uint64 // encoded chunk bytes sent on this stream
	// ResumedRecords and ResumedChunks are what the server had staged
	// from earlier attempts and this stream did not send again: it
	// resumed at chunk ResumedChunks, record ResumedRecords (both 0: a
	// full stream). The dataset's records are ResumedRecords +
	// RecordsReceived.
	ResumedRecords uint64
	ResumedChunks  uint64
	Duplicate      bool   // the ingest_id was committed earlier; nothing applied twice
	Message        string // the server's detail text
}

// ProgressFunc is told the running totals after each chunk goes out:
// records and chunks count from the start of the dataset, so a resumed
// stream's totals start at its resume point; bytes are the encoded chunk
// bytes this stream sent. It is called on the goroutine that started the
// stream and must not block for long.
type ProgressFunc func(records, chunks, bytes uint64)
