package queue

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Sentinel errors. Every error the package returns that falls into one of
// these classes wraps the sentinel, so callers classify with [errors.Is].
var (
	// ErrBadJob marks a job message that can never be processed (bad JSON,
	// missing file_name, domain mismatch, invalid id or options). Permanent.
	ErrBadJob = errors.New("bad job")
	// ErrQueueFull is returned by [Queue.Enqueue] when the job stream has
	// reached its size or message limit and refuses new jobs (DiscardNew).
	ErrQueueFull = errors.New("job queue is full")
	// ErrUnavailable marks a failure to reach NATS or JetStream (no
	// connection, no responders, timeout). Transient.
	ErrUnavailable = errors.New("nats unavailable")
	// ErrTooLarge marks a message NATS refused for its size: above the
	// server's max_payload, or the stream's MaxMsgSize (a job above
	// [MaxJobBytes]). Retrying it cannot help.
	ErrTooLarge = errors.New("message too large for NATS")
	// ErrRefused marks a NATS server that answered and refused the
	// connection: an authorization violation (wrong or missing
	// credentials), a TLS mismatch or a failed TLS handshake. Retrying the
	// same settings cannot help.
	ErrRefused = errors.New("nats refused the connection")
	// ErrClosed marks a connection NATS closed for good: it will not
	// reconnect (see [WatchClosed]).
	ErrClosed = errors.New("nats connection closed for good")
	// ErrNotFound is returned when a job status record or a dead letter does
	// not exist.
	ErrNotFound = errors.New("not found")
	// ErrFileNotFound is returned when an object is not in the ingest_files
	// object store.
	ErrFileNotFound = errors.New("file not found in object store")
	// ErrStatusWrite is returned by [Queue.Enqueue] together with a valid
	// result when the job was enqueued but its "queued" status record could
	// not be written; the worker creates the record when it sees the job.
	ErrStatusWrite = errors.New("job enqueued but its status record was not written")
	// ErrIdempotencyConflict is returned by [Queue.Enqueue] when the job id
	// (an idempotency key) is already taken by a job with another domain,
	// file_name or source: nothing was enqueued, and the result carries the
	// stored job's status.
	ErrIdempotencyConflict = errors.New("job id already used by a different job")
	// ErrFinished is returned by [Queue.CancelJob] for a job that already
	// succeeded or failed: there is nothing left to cancel.
	ErrFinished = errors.New("job already finished")
	// ErrSkipUpdate may be returned by the function given to
	// [Queue.UpdateStatus] to leave the record unchanged.
	ErrSkipUpdate = errors.New("skip status update")
	// ErrConflict is returned by [Queue.UpdateStatus] when concurrent writers
	// kept winning the compare-and-set race until the retries ran out.
	ErrConflict = errors.New("status update conflict")
	// ErrNoJob is returned by [Consumer.Next] when no job came within its
	// wait; the consumer answered.
	ErrNoJob = errors.New("no job")
	// ErrNoConsumer is returned by [Consumer.Next] when the job consumer
	// does not exist (deleted); a later Next finds it once it is recreated.
	ErrNoConsumer = errors.New("job consumer gone")
	// ErrBadDelivery is returned by [Consumer.Next] for a fetched message
	// without JetStream metadata, which it terminated.
	ErrBadDelivery = errors.New("message is not a job delivery")
	// ErrSettled is returned by a [Delivery]'s transitions once the
	// delivery was settled (acked, Nak'd, terminated or handed back).
	ErrSettled = errors.New("delivery already settled")
	// ErrNotDeadLettered is returned by [Delivery.Fail] when the job's dead
	// letter was not stored first ([Delivery.DeadLetter]): a job is never
	// terminated before its dead letter is safe.
	ErrNotDeadLettered = errors.New("dead letter not stored")
)

// classify wraps a JetStream publish or request error with the package's
// vocabulary: a full stream becomes [ErrQueueFull], a message too large
// for the server or the stream [ErrTooLarge], a server-side API error
// stays as it is, anything else (no connection, no responders, timeouts)
// is [ErrUnavailable].
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, nats.ErrMaxPayload) {
		return fmt.Errorf("%s: %w: %w", op, ErrTooLarge, err)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch {
		case isStreamFull(apiErr):
			return fmt.Errorf("%s: %w: %w", op, ErrQueueFull, err)
		case apiErr.ErrorCode == jsErrCodeMessageTooLarge:
			return fmt.Errorf("%s: %w: %w", op, ErrTooLarge, err)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

// jsErrCodeMessageTooLarge is the JetStream API error code of a publish
// above the stream's MaxMsgSize ("message size exceeds maximum allowed").
const jsErrCodeMessageTooLarge jetstream.ErrorCode = 10054

// jsErrCodeStreamStoreFailed is the JetStream API error code a stream with
// DiscardNew answers when a publish would exceed its limits; the description
// then says which limit ("maximum messages exceeded", "maximum bytes
// exceeded").
const jsErrCodeStreamStoreFailed jetstream.ErrorCode = 10077

func isStreamFull(e *jetstream.APIError) bool {
	return e.ErrorCode == jsErrCodeStreamStoreFailed && containsFold(e.Description, "maximum")
}
