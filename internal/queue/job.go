package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/embedstream/embedstream/internal/clip"
	"github.com/embedstream/embedstream/internal/source"
	"github.com/embedstream/embedstream/internal/wire"
)

// HeaderJobID is the header that carries the job id when Nats-Msg-Id must
// differ from it: a replayed dead letter is published with Nats-Msg-Id
// "<job id>:replay:<dlq seq>" (the 10-minute duplicate window would drop a
// second message with the plain job id) and this header set to the job id.
const HeaderJobID = "Embedstream-Job-Id"

// Limits of a job's options (inclusive).
const (
	MinChunkRecords = 1
	MaxChunkRecords = 1_000_000
	MinChunkBytes   = 4 << 10
	MaxChunkBytes   = 64 << 20
)

// ParseJob parses and validates a job message as a worker receives it:
// its subject, headers, body, and the stream sequence and store time of the
// stored message (see [DerivedJobID]).
//
// The job id is, in this order of precedence: the [HeaderJobID] header; the
// Nats-Msg-Id header; the body's job_id; [DerivedJobID]. The chosen id must
// be a valid ingest_id ([wire.ValidateID]).
//
// The domain is the subject's last token (the subject must be
// ingest.jobs.<domain>); a body domain must equal it. file_name is required
// and non-empty, within source.CheckLength's bounds (1 KiB, 255 bytes per
// path component); source is "file" (default) or "object"; options, when
// present, hold chunk_records in [MinChunkRecords, MaxChunkRecords] and
// chunk_bytes in [MinChunkBytes, MaxChunkBytes]; enqueued_at is RFC 3339.
// Unknown fields, at the top level or in options, and explicit nulls are
// rejected, so a typo ("filename") fails loudly instead of being ignored;
// job.schema.json ([JobSchema]) states the same rules.
//
// Every error wraps [ErrBadJob]: such a job is a permanent failure.
func ParseJob(subject string, header nats.Header, data []byte, streamSeq uint64, stored time.Time) (Job, error) {
	job, err := parseBody(data)
	if err != nil {
		return Job{}, err
	}
	domain, ok := strings.CutPrefix(subject, SubjectPrefix)
	if !ok || domain == "" || strings.Contains(domain, ".") {
		return Job{}, fmt.Errorf("%w: subject %s is not %s<domain>", ErrBadJob, clip.Quote(subject), SubjectPrefix)
	}
	if err := ValidateDomain(domain); err != nil {
		return Job{}, fmt.Errorf("%w: subject %s: %w", ErrBadJob, clip.Quote(subject), err)
	}
	if job.Domain != "" && job.Domain != domain {
		return Job{}, fmt.Errorf("%w: body domain %s disagrees with subject %s", ErrBadJob, clip.Quote(job.Domain), clip.Quote(subject))
	}
	job.Domain = domain

	switch {
	case header.Get(HeaderJobID) != "":
		job.ID = header.Get(HeaderJobID)
		if err := wire.ValidateID(HeaderJobID+" header", job.ID); err != nil {
			return Job{}, fmt.Errorf("%w: %w", ErrBadJob, err)
		}
	case header.Get(HeaderMsgID) != "":
		job.ID = header.Get(HeaderMsgID)
		if err := wire.ValidateID(HeaderMsgID+" header (the job id)", job.ID); err != nil {
			return Job{}, fmt.Errorf("%w: %w", ErrBadJob, err)
		}
	case job.ID != "":
		// validated by parseBody
	default:
		job.ID = DerivedJobID(streamSeq, stored)
	}
	return job, nil
}

// JobIDFromMsg returns the id a job message stands for even when its body
// cannot be parsed (for dead-lettering a bad job): the headers' id, else the
// body's job_id if readable and valid, else [DerivedJobID].
func JobIDFromMsg(header nats.Header, data []byte, streamSeq uint64, stored time.Time) string {
	for _, h := range []string{HeaderJobID, HeaderMsgID} {
		if id := header.Get(h); id != "" && wire.ValidateID(h, id) == nil {
			return id
		}
	}
	var body struct {
		ID string `json:"job_id"`
	}
	if json.Unmarshal(data, &body) == nil && wire.ValidateID("job_id", body.ID) == nil {
		return body.ID
	}
	return DerivedJobID(streamSeq, stored)
}

// parseBody decodes and validates a job body, field by field, so that
// presence, null and unknown keys are all seen.
func parseBody(data []byte) (Job, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return Job{}, fmt.Errorf("%w: body is not a JSON object: %w", ErrBadJob, err)
	}
	if fields == nil {
		return Job{}, fmt.Errorf("%w: body is null, want a JSON object", ErrBadJob)
	}
	var job Job
	for k, raw := range fields {
		var err error
		switch k {
		case "job_id":
			if err = decodeString(raw, &job.ID); err == nil {
				err = wire.ValidateID("job_id", job.ID)
			}
		case "domain":
			if err = decodeString(raw, &job.Domain); err == nil {
				err = ValidateDomain(job.Domain)
			}
		case "file_name":
			if err = decodeString(raw, &job.FileName); err == nil {
				err = checkFileName(job.FileName)
			}
		case "source":
			if err = decodeString(raw, &job.Source); err == nil && job.Source != SourceFile && job.Source != SourceObject {
				err = fmt.Errorf("want %q or %q, got %s", SourceFile, SourceObject, clip.Quote(job.Source))
			}
		case "options":
			job.Options, err = parseOptions(raw)
		case "enqueued_at":
			var s string
			if err = decodeString(raw, &s); err == nil {
				// RFC 3339 allows a lowercase 't' and 'z'; Go's layout does not.
				job.EnqueuedAt, err = time.Parse(time.RFC3339Nano, strings.ToUpper(s))
			}
		default:
			err = errors.New("unknown field")
		}
		if err != nil {
			return Job{}, fmt.Errorf("%w: field %s: %w", ErrBadJob, clip.Quote(k), err)
		}
	}
	if _, ok := fields["file_name"]; !ok {
		return Job{}, fmt.Errorf("%w: field \"file_name\" is required", ErrBadJob)
	}
	if job.Source == "" {
		job.Source = SourceFile
	}
	return job, nil
}

func checkFileName(name string) error {
	if name == "" {
		return errors.New("must not be empty")
	}
	return source.CheckLength(name)
}

func decodeString(raw json.RawMessage, dst *string) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return errors.New("must be a string, not null")
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return errors.New("must be a string")
	}
	return nil
}

func decodeInt(raw json.RawMessage, lo, hi int64) (int64, error) {
	var n int64
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return 0, errors.New("must be an integer, not null")
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, errors.New("must be an integer")
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("must be %d to %d, got %d", lo, hi, n)
	}
	return n, nil
}

func parseOptions(raw json.RawMessage) (JobOptions, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return JobOptions{}, errors.New("must be a JSON object")
	}
	var o JobOptions
	for k, v := range fields {
		switch k {
		case "chunk_records":
			n, err := decodeInt(v, MinChunkRecords, MaxChunkRecords)
			if err != nil {
				return JobOptions{}, fmt.Errorf("%q: %w", k, err)
			}
			o.ChunkRecords = int(n)
		case "chunk_bytes":
			n, err := decodeInt(v, MinChunkBytes, MaxChunkBytes)
			if err != nil {
				return JobOptions{}, fmt.Errorf("%q: %w", k, err)
			}
			o.ChunkBytes = n
		default:
			return JobOptions{}, fmt.Errorf("%s: unknown field", clip.Quote(k))
		}
	}
	return o, nil
}

// Validate checks a job about to be enqueued by the same rules [ParseJob]
// applies to a received one (id, domain, file_name, source, options). An
// empty id or source is allowed here: [Queue.Enqueue] fills them. Errors
// wrap [ErrBadJob].
func (j Job) Validate() error {
	if j.ID != "" {
		if err := wire.ValidateID("job id", j.ID); err != nil {
			return fmt.Errorf("%w: %w", ErrBadJob, err)
		}
	}
	if err := ValidateDomain(j.Domain); err != nil {
		return fmt.Errorf("%w: %w", ErrBadJob, err)
	}
	if err := checkFileName(j.FileName); err != nil {
		return fmt.Errorf("%w: file_name %w", ErrBadJob, err)
	}
	if j.Source != "" && j.Source != SourceFile && j.Source != SourceObject {
		return fmt.Errorf("%w: source: want %q or %q, got %s", ErrBadJob, SourceFile, SourceObject, clip.Quote(j.Source))
	}
	if n := j.Options.ChunkRecords; n != 0 && (n < MinChunkRecords || n > MaxChunkRecords) {
		return fmt.Errorf("%w: options.chunk_records must be %d to %d, got %d", ErrBadJob, MinChunkRecords, MaxChunkRecords, n)
	}
	if n := j.Options.ChunkBytes; n != 0 && (n < MinChunkBytes || n > MaxChunkBytes) {
		return fmt.Errorf("%w: options.chunk_bytes must be %d to %d, got %d", ErrBadJob, MinChunkBytes, MaxChunkBytes, n)
	}
	return nil
}

// Subject returns the subject a job is published on: ingest.jobs.<domain>.
func (j Job) Subject() string { return SubjectPrefix + j.Domain }

// EnqueueResult is the outcome of [Queue.Enqueue].
type EnqueueResult struct {
	JobID string // the job's id (generated when the job had none)
	// Duplicate is true when the job id was already known: JetStream
	// dropped the publish as a duplicate within its 10-minute window, or a
	// status record for the id already existed (nothing was published).
	Duplicate bool
	Seq       uint64 // stream sequence of the job (0 when nothing was published)
	// Status is the job's status record: for a duplicate, the STORED one
	// (the first request's domain, file_name and source, and its progress);
	// otherwise the "queued" record written for it. Its Domain, FileName
	// and Source are always set; the rest may be zero when no record could
	// be read.
	Status Status
}

// Enqueue publishes job on ingest.jobs.<domain> and waits for JetStream's
// acknowledgement, so a nil error means the job is durable. An empty id is
// filled with [NewJobID], an empty source with "file", a zero EnqueuedAt
// with the current time.
//
// The job id is the Nats-Msg-Id, so JetStream drops a repeat within its
// duplicate window; beyond it, a job id that already has a status record is
// reported as a duplicate without publishing. A duplicate's result carries
// the stored status; if that names another domain, file_name or source,
// the id is taken by a different job and Enqueue returns
// [ErrIdempotencyConflict] with that result. The "queued" status record is
// written after the publish succeeded (so it never claims a job that is not
// in the stream) with a KV create, so it never overwrites the record of a
// job that a worker already started.
//
// Errors: [ErrBadJob] (invalid job), [ErrIdempotencyConflict] (id taken by
// a different job, nothing enqueued), [ErrQueueFull] (stream at its limits,
// nothing enqueued), [ErrUnavailable] (NATS unreachable; nothing enqueued
// unless a retry with the same id finds it so), [ErrStatusWrite] (returned
// with a valid result: the job is enqueued).
func (q *Queue) Enqueue(ctx context.Context, job Job) (EnqueueResult, error) {
	if err := job.Validate(); err != nil {
		return EnqueueResult{}, err
	}
	if job.Source == "" {
		job.Source = SourceFile
	}
	if job.EnqueuedAt.IsZero() {
		job.EnqueuedAt = time.Now().UTC()
	}
	if job.ID == "" {
		job.ID = NewJobID()
	} else if st, err := q.GetStatus(ctx, job.ID); err == nil {
		return duplicateOf(job, st)
	} else if !errors.Is(err, ErrNotFound) {
		return EnqueueResult{}, err
	}
	body, err := json.Marshal(job)
	if err != nil {
		return EnqueueResult{}, fmt.Errorf("queue: encode job %s: %w", job.ID, err)
	}
	msg := &nats.Msg{Subject: job.Subject(), Data: body, Header: nats.Header{}}
	ack, err := q.js.PublishMsg(ctx, msg, jetstream.WithMsgID(job.ID), jetstream.WithExpectStream(q.cfg.Stream))
	if err != nil {
		return EnqueueResult{}, classify("queue: enqueue job "+job.ID, err)
	}
	st := Status{
		JobID:      job.ID,
		Domain:     job.Domain,
		FileName:   job.FileName,
		Source:     job.Source,
		State:      StateQueued,
		StreamSeq:  ack.Sequence,
		EnqueuedAt: job.EnqueuedAt,
		UpdatedAt:  time.Now().UTC(),
	}
	if ack.Duplicate {
		// The first publish's status record, if written by now, says
		// what the id stands for; without one, the dropped message is
		// all we know of, and its record is left to its publisher or the
		// worker.
		stored, err := q.GetStatus(ctx, job.ID)
		if err != nil {
			stored = Status{JobID: job.ID, Domain: job.Domain, FileName: job.FileName, Source: job.Source}
		}
		res, err := duplicateOf(job, stored)
		res.Seq = ack.Sequence
		return res, err
	}
	res := EnqueueResult{JobID: job.ID, Seq: ack.Sequence, Status: st}
	switch err := q.createStatus(ctx, st); {
	case errors.Is(err, jetstream.ErrKeyExists):
		// A worker took the job first and wrote its own record.
		if cur, err := q.GetStatus(ctx, job.ID); err == nil {
			res.Status = cur
		}
	case err != nil:
		return res, fmt.Errorf("queue: job %s: %w: %w", job.ID, ErrStatusWrite, err)
	}
	return res, nil
}

// duplicateOf is the result of enqueueing job whose id is already taken by
// the job of status record stored: a duplicate if the two agree on domain,
// file_name and source, else [ErrIdempotencyConflict]. A field the record
// leaves empty agrees with anything.
func duplicateOf(job Job, stored Status) (EnqueueResult, error) {
	res := EnqueueResult{JobID: job.ID, Duplicate: true, Status: stored}
	if res.Status.Domain == "" {
		res.Status.Domain = job.Domain
	}
	if res.Status.FileName == "" {
		res.Status.FileName = job.FileName
	}
	if res.Status.Source == "" {
		res.Status.Source = job.Source
	}
	if st := res.Status; st.Domain != job.Domain || st.FileName != job.FileName || st.Source != job.Source {
		return res, fmt.Errorf("queue: job %s: %w: it is a %s job for %q (source %s)",
			job.ID, ErrIdempotencyConflict, st.Domain, st.FileName, st.Source)
	}
	return res, nil
}
