package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/embedstream/embedstream/internal/clip"
)

// DeadLetterJobBytes is the most bytes of a job message a dead letter
// keeps: a valid job is far smaller (see [MaxJobBytes]), so only a message
// that was never a valid job is ever cut, and a dead letter stays well
// under NATS's max_payload whatever it holds.
const DeadLetterJobBytes = 16 << 10

// MaxErrorBytes bounds a [JobError]'s message as the status record and the
// dead letter store it: longer messages are cut, with a marker saying how
// much was cut.
const MaxErrorBytes = 2 << 10

// Dead-letter reasons, as stored in [DeadLetter.Reason].
const (
	ReasonPermanent      = "permanent_error"
	ReasonRetries        = "retries_exhausted"
	ReasonMaxDeliveries  = "max_deliveries"
	dlqUnknownDomain     = "unknown"
	scanBatch            = 256
	scanWait             = 5 * time.Second
	deadLetterMsgIDInfix = "-dlq-"
)

// DLQSubject returns the dead-letter subject of a domain,
// ingest.dlq.<domain>; a domain that is not a valid subject token (a bad
// job's) maps to ingest.dlq.unknown.
func DLQSubject(domain string) string {
	if ValidateDomain(domain) != nil {
		domain = dlqUnknownDomain
	}
	return DLQSubjectPrefix + domain
}

// PublishDeadLetter publishes dl on ingest.dlq.<domain> and waits for the
// stream's acknowledgement: only after a nil error may the worker Term the
// job. The Nats-Msg-Id is "<job id>-dlq-<stream seq>", so two workers
// dead-lettering the same delivery store it once. A zero FailedAt is set to
// now; a Job that is not valid JSON is stored in JobRaw instead. The record
// is bounded whatever the job held: a job message above
// [DeadLetterJobBytes] is kept as its first DeadLetterJobBytes bytes in
// JobRaw (JobTruncated, with JobSize and JobSHA256 of the whole), and the
// error message is cut to [MaxErrorBytes].
// Errors: [ErrQueueFull] (INGEST_DLQ is at its limits: see [Open]),
// [ErrUnavailable], or the JetStream API error.
func (q *Queue) PublishDeadLetter(ctx context.Context, dl DeadLetter) error {
	if dl.JobID == "" {
		return errors.New("queue: dead letter without a job id")
	}
	if dl.FailedAt.IsZero() {
		dl.FailedAt = time.Now().UTC()
	}
	if dl.JobSize == 0 {
		dl.JobSize = len(dl.Job)
	}
	switch {
	case len(dl.Job) > DeadLetterJobBytes:
		if dl.JobSHA256 == "" {
			sum := sha256.Sum256(dl.Job)
			dl.JobSHA256 = hex.EncodeToString(sum[:])
		}
		dl.JobRaw, dl.Job, dl.JobTruncated = bytes.Clone(dl.Job[:DeadLetterJobBytes]), nil, true
	case len(dl.Job) > 0 && !json.Valid(dl.Job):
		dl.JobRaw, dl.Job = []byte(dl.Job), nil
	}
	dl.Error.Message = clip.Text(dl.Error.Message, MaxErrorBytes)
	body, err := json.Marshal(dl)
	if err != nil {
		return fmt.Errorf("queue: encode dead letter of job %s: %w", dl.JobID, err)
	}
	msg := &nats.Msg{Subject: DLQSubject(dl.Domain), Data: body, Header: nats.Header{}}
	msg.Header.Set(HeaderJobID, dl.JobID)
	msgID := dl.JobID + deadLetterMsgIDInfix + strconv.FormatUint(dl.StreamSeq, 10)
	if _, err := q.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(DLQStream)); err != nil {
		err = classify("queue: dead-letter job "+dl.JobID, err)
		if errors.Is(err, ErrQueueFull) {
			return fmt.Errorf("%w (the dead-letter stream %s is full: replay or purge dead letters to make room)", err, DLQStream)
		}
		return err
	}
	return nil
}

// ListDeadLetters returns the dead letters of domain (all domains when
// empty), newest first, at most limit (all when limit <= 0), with DLQSeq
// filled. It holds at most twice limit dead letters while it reads.
// Errors: [ErrUnavailable].
func (q *Queue) ListDeadLetters(ctx context.Context, domain string, limit int) ([]DeadLetter, error) {
	filter := DLQSubjectPrefix + ">"
	if domain != "" {
		filter = DLQSubject(domain)
	}
	var out []DeadLetter
	err := q.scanDLQ(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}}, func(m jetstream.Msg, seq uint64) {
		dl, err := decodeDeadLetter(m.Data(), seq)
		if err != nil {
			return // not ours: skip a foreign message on the DLQ subjects
		}
		out = append(out, dl)
		if limit > 0 && len(out) >= 2*limit {
			out = slices.Delete(out, 0, len(out)-limit) // keep the newest
		}
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func decodeDeadLetter(data []byte, seq uint64) (DeadLetter, error) {
	var dl DeadLetter
	if err := json.Unmarshal(data, &dl); err != nil {
		return DeadLetter{}, fmt.Errorf("queue: dead letter at %d: %w", seq, err)
	}
	dl.DLQSeq = seq
	if string(dl.Job) == "null" {
		dl.Job = nil
	}
	return dl, nil
}

// deadLetterSeqs returns the INGEST_DLQ sequences of job id's dead letters,
// oldest first, reading headers only. When the job's status record names
// its domain, only that domain's subject and ingest.dlq.unknown (a job
// whose message could not be parsed) are read, not the whole stream.
func (q *Queue) deadLetterSeqs(ctx context.Context, id string) ([]uint64, error) {
	filters := []string{DLQSubjectPrefix + ">"}
	if st, err := q.GetStatus(ctx, id); err == nil && ValidateDomain(st.Domain) == nil && st.Domain != dlqUnknownDomain {
		filters = []string{DLQSubject(st.Domain), DLQSubject(dlqUnknownDomain)}
	}
	var seqs []uint64
	err := q.scanDLQ(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: filters, HeadersOnly: true}, func(m jetstream.Msg, seq uint64) {
		if m.Headers().Get(HeaderJobID) == id {
			seqs = append(seqs, seq)
		}
	})
	return seqs, err
}

// scanDLQ calls fn for every message of INGEST_DLQ that the ordered
// consumer cc selects (its filter subjects, start, headers only), oldest
// first.
func (q *Queue) scanDLQ(ctx context.Context, cc jetstream.OrderedConsumerConfig, fn func(jetstream.Msg, uint64)) error {
	cons, err := q.js.OrderedConsumer(ctx, DLQStream, cc)
	if err != nil {
		return classify("queue: read dead letters", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return classify("queue: read dead letters", err)
	}
	// Ask for exactly what is pending, so a fetch never waits for
	// messages that will not come.
	remaining := info.NumPending
	for remaining > 0 {
		batch, err := cons.Fetch(int(min(remaining, scanBatch)), jetstream.FetchMaxWait(scanWait))
		if err != nil {
			return classify("queue: read dead letters", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("queue: read dead letters: %w", err)
			}
			fn(m, meta.Sequence.Stream)
			remaining = meta.NumPending
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return classify("queue: read dead letters", err)
		}
		if n == 0 {
			return nil // the pending messages were deleted while we read
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("queue: read dead letters: %w", context.Cause(ctx))
		}
	}
	return nil
}

// GetDeadLetter returns job id's latest dead letter, with DLQSeq filled.
// Errors: [ErrNotFound], [ErrUnavailable].
func (q *Queue) GetDeadLetter(ctx context.Context, id string) (DeadLetter, error) {
	seqs, err := q.deadLetterSeqs(ctx, id)
	if err != nil {
		return DeadLetter{}, err
	}
	for i := len(seqs) - 1; i >= 0; i-- {
		raw, err := q.dlq.GetMsg(ctx, seqs[i])
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return DeadLetter{}, classify("queue: dead letter of job "+id, err)
		}
		return decodeDeadLetter(raw.Data, raw.Sequence)
	}
	return DeadLetter{}, fmt.Errorf("queue: dead letter of job %s: %w", id, ErrNotFound)
}

// DeleteDeadLetter removes every dead letter of job id from INGEST_DLQ.
// Errors: [ErrNotFound] (none), [ErrUnavailable].
func (q *Queue) DeleteDeadLetter(ctx context.Context, id string) error {
	seqs, err := q.deadLetterSeqs(ctx, id)
	if err != nil {
		return err
	}
	if len(seqs) == 0 {
		return fmt.Errorf("queue: dead letter of job %s: %w", id, ErrNotFound)
	}
	return q.deleteDLQSeqs(ctx, id, seqs)
}

func (q *Queue) deleteDLQSeqs(ctx context.Context, id string, seqs []uint64) error {
	for _, seq := range seqs {
		if err := q.dlq.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return classify(fmt.Sprintf("queue: delete dead letter %d of job %s", seq, id), err)
		}
	}
	return nil
}

// ReplayDeadLetter re-enqueues job id's dead letter as a fresh attempt
// under the same job id: the original job message is published again on
// its original subject with Nats-Msg-Id "<id>:replay:<dlq seq>" (the plain
// id could fall in the 10-minute duplicate window and be dropped; the DLQ
// sequence makes a retried replay of the same dead letter a duplicate) and
// the [HeaderJobID] header set to id, which [ParseJob] prefers, and
// [HeaderAttemptsBefore] set to the dead letter's attempts, so attempt
// numbers keep increasing across the replay. After the
// publish succeeded, a "failed" status goes back to "queued" (attempt
// history kept; a status a worker already moved on is left alone) and the
// job's dead letters are removed. The result carries the job's status
// record as it stands after the replay.
//
// Errors: [ErrNotFound] (no dead letter), [ErrBadJob] (a dead letter that
// keeps only part of its job: [DeadLetter.JobTruncated]), [ErrQueueFull],
// [ErrUnavailable].
func (q *Queue) ReplayDeadLetter(ctx context.Context, id string) (EnqueueResult, error) {
	dl, err := q.GetDeadLetter(ctx, id)
	if err != nil {
		return EnqueueResult{}, err
	}
	res, err := q.replay(ctx, dl)
	if err != nil {
		return res, err
	}
	seqs, err := q.deadLetterSeqs(ctx, id)
	if err != nil {
		return res, err
	}
	// Only the dead letters up to the replayed one: the fresh attempt may
	// already have failed and left a new one.
	seqs = slices.DeleteFunc(seqs, func(s uint64) bool { return s > dl.DLQSeq })
	return res, q.deleteDLQSeqs(ctx, id, seqs)
}

// replay publishes dead letter dl's job again and moves a failed status
// back to queued (see [Queue.ReplayDeadLetter]); it removes no dead
// letter.
func (q *Queue) replay(ctx context.Context, dl DeadLetter) (EnqueueResult, error) {
	id := dl.JobID
	if dl.JobTruncated {
		return EnqueueResult{}, fmt.Errorf("queue: replay job %s: %w: its dead letter keeps only the first %d of the job's %d bytes (sha256 %s), so it cannot be replayed; purge it",
			id, ErrBadJob, len(dl.JobRaw), dl.JobSize, dl.JobSHA256)
	}
	subject := dl.Subject
	if subject == "" {
		subject = SubjectPrefix + dl.Domain
	}
	body := []byte(dl.Job)
	if len(body) == 0 {
		body = dl.JobRaw
	}
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	msg.Header.Set(HeaderJobID, id)
	// The attempts so far carry over: the replay's first delivery is the
	// next attempt, so the history shows each attempt once.
	msg.Header.Set(HeaderAttemptsBefore, strconv.Itoa(max(dl.Attempts, 0)))
	msgID := id + ":replay:" + strconv.FormatUint(dl.DLQSeq, 10)
	ack, err := q.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(q.cfg.Stream))
	if err != nil {
		return EnqueueResult{}, classify("queue: replay job "+id, err)
	}
	res := EnqueueResult{JobID: id, Duplicate: ack.Duplicate, Seq: ack.Sequence}
	res.Status, err = q.UpdateStatus(ctx, id, func(s *Status) error {
		if s.State != StateFailed && s.State != "" {
			return ErrSkipUpdate
		}
		if s.Attempts > max(dl.Attempts, 0) {
			// A worker ran the replay already (it can finish before this
			// write): its record is newer than "queued".
			return ErrSkipUpdate
		}
		if s.Domain == "" {
			s.Domain = dl.Domain
		}
		if job, err := parseBody(body); err == nil && s.FileName == "" {
			s.FileName, s.Source, s.EnqueuedAt = job.FileName, job.Source, job.EnqueuedAt
		}
		s.State = StateQueued
		s.Error = nil
		s.FinishedAt = time.Time{}
		s.StreamSeq = ack.Sequence
		s.RetryingSince, s.NextRetryAt, s.RetryDeadline = time.Time{}, time.Time{}, time.Time{} // a replay starts a new run
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("queue: replay job %s: %w: %w", id, ErrStatusWrite, err)
	}
	return res, nil
}
