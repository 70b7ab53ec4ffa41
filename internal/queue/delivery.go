package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/embedstream/embedstream/internal/clip"
	"github.com/embedstream/embedstream/internal/telemetry"
)

// HeaderAttemptsBefore is set on a job handed off at shutdown
// ([Delivery.HandBack] on the last allowed delivery) to the attempts the
// job had made before: the new message's deliveries count from there, so
// attempt numbers in status, logs, dead letters and the batch server's
// metadata keep increasing across the handoff.
const HeaderAttemptsBefore = "Embedstream-Attempts-Before"

// ackProgress is the JetStream ack body that resets a message's AckWait;
// sent as a request, the server's reply confirms it received it while the
// message was pending (not that this delivery still holds it).
var ackProgress = []byte("+WPI")

// handoffReason is the TermWithReason of a delivery handed off at shutdown.
const handoffReason = "shutdown handoff"

// Consumer is a worker's handle on the workers' durable pull consumer
// ingest-workers, bound by [Queue.Jobs]. Its [Consumer.Next] turns each
// fetched message into a [Delivery]; nothing else settles job messages.
// It is safe for concurrent use.
type Consumer struct {
	q          *Queue
	cons       jetstream.Consumer
	worker     string
	ackWait    time.Duration
	maxDeliver int
}

// Jobs binds the job consumer for the worker named worker (recorded in
// status records and dead letters). The consumer's AckWait and MaxDeliver
// are read from its info; where that lacks them, q's [Config] gives them.
// Errors: [ErrUnavailable], or the JetStream API error (the consumer does
// not exist).
func (q *Queue) Jobs(ctx context.Context, worker string) (*Consumer, error) {
	cons, err := q.js.Consumer(ctx, q.cfg.Stream, ConsumerName)
	if err != nil {
		return nil, classify("queue: consumer "+ConsumerName, err)
	}
	c := &Consumer{q: q, cons: cons, worker: worker, ackWait: q.cfg.AckWait, maxDeliver: q.cfg.MaxDeliver}
	if info := cons.CachedInfo(); info != nil {
		if info.Config.AckWait > 0 {
			c.ackWait = info.Config.AckWait
		}
		if info.Config.MaxDeliver != 0 {
			c.maxDeliver = info.Config.MaxDeliver
		}
	}
	if c.maxDeliver < 0 {
		c.maxDeliver = -1 // unlimited, as JetStream has it
	}
	return c, nil
}

// AckWait returns the consumer's AckWait: how long a delivery holds its
// job without a confirmed [Delivery.ExtendLease].
func (c *Consumer) AckWait() time.Duration { return c.ackWait }

// MaxDeliver returns the consumer's MaxDeliver: the deliveries a message
// gets; -1 is unlimited.
func (c *Consumer) MaxDeliver() int { return c.maxDeliver }

// Worker returns the worker name the consumer was bound for.
func (c *Consumer) Worker() string { return c.worker }

// Next waits up to wait for the next job and returns its delivery, parsed
// once ([Delivery.Job]). It pulls one message only, so a worker calling it
// once per free slot never holds more jobs than it can run.
//
// Errors: [ErrNoJob] (no job within wait: the consumer answered),
// [ErrNoConsumer] (the consumer was deleted, while the pull waited or
// before it; a later Next finds it again once it is recreated), [ErrBadDelivery] (a
// message without JetStream metadata, which Next terminated),
// [ErrUnavailable] (NATS or JetStream unreachable; a pull that nothing
// answers is [ErrNoConsumer] when JetStream says the consumer does not
// exist).
func (c *Consumer) Next(wait time.Duration) (*Delivery, error) {
	msg, err := c.cons.Next(jetstream.FetchMaxWait(wait))
	if err != nil {
		switch {
		case errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages):
			return nil, fmt.Errorf("queue: next job: %w within %s", ErrNoJob, wait)
		case errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted):
			return nil, fmt.Errorf("queue: next job: %w: %w", ErrNoConsumer, err)
		case errors.Is(err, nats.ErrNoResponders) && c.gone(wait):
			// Deleted between two pulls: nothing answers a pull on a
			// consumer that does not exist.
			return nil, fmt.Errorf("queue: next job: %w: %w", ErrNoConsumer, err)
		}
		return nil, classify("queue: next job", err)
	}
	received := time.Now()
	md, err := msg.Metadata()
	if err != nil {
		err = fmt.Errorf("queue: %w: message on %s: %w", ErrBadDelivery, msg.Subject(), err)
		if terr := msg.Term(); terr != nil {
			err = errors.Join(err, fmt.Errorf("queue: term it: %w", terr))
		}
		return nil, err
	}
	d := &Delivery{
		c:   c,
		msg: msg,
		m: jobMsg{
			subject:    msg.Subject(),
			header:     msg.Headers(),
			data:       msg.Data(),
			seq:        md.Sequence.Stream,
			stored:     md.Timestamp,
			deliveries: int(md.NumDelivered),
		},
		received: received,
	}
	d.job, d.jobErr = d.m.job()
	return d, nil
}

// jobMsg is a job message as stored in the job stream, with the number of
// times it was delivered: what both a [Delivery] and
// [Queue.DeadLetterBySeq] know of a job, so that both name it, count its
// attempts and build its dead letter the same way.
type jobMsg struct {
	subject    string
	header     nats.Header
	data       []byte
	seq        uint64    // stream sequence
	stored     time.Time // when the stream stored it
	deliveries int       // deliveries of this message, 1 first
}

// attempt is the job's attempt: the message's deliveries plus the attempts
// made before a handoff ([HeaderAttemptsBefore]).
func (m jobMsg) attempt() int { return attemptsBefore(m.header) + m.deliveries }

// job parses the message ([ParseJob]). A message that is not a valid job
// still names one, to report and dead-letter it: its id is
// [JobIDFromMsg]'s and its domain the subject's last token(s). A zero
// EnqueuedAt is the store time.
func (m jobMsg) job() (Job, error) {
	job, err := ParseJob(m.subject, m.header, m.data, m.seq, m.stored)
	if err != nil {
		job.ID = JobIDFromMsg(m.header, m.data, m.seq, m.stored)
		job.Domain = strings.TrimPrefix(m.subject, SubjectPrefix)
	}
	if job.EnqueuedAt.IsZero() {
		job.EnqueuedAt = m.stored
	}
	return job, err
}

// deadLetter is the dead-letter record of job (as m.job named it) that
// failed with jerr: the only place a [DeadLetter] of a job is built.
func (m jobMsg) deadLetter(job Job, jerr JobError, reason, worker string) DeadLetter {
	sum := sha256.Sum256(m.data)
	return DeadLetter{
		JobSize:   len(m.data),
		JobSHA256: hex.EncodeToString(sum[:]),
		JobID:     job.ID,
		Domain:    job.Domain,
		Subject:   m.subject,
		Job:       bytes.Clone(m.data),
		Error:     jerr,
		Attempts:  m.attempt(),
		Worker:    worker,
		Reason:    reason,
		FailedAt:  time.Now().UTC(),
		StreamSeq: m.seq,
	}
}

// attemptsBefore reads [HeaderAttemptsBefore]; absent or invalid is 0.
func attemptsBefore(h nats.Header) int {
	n, err := strconv.Atoi(h.Get(HeaderAttemptsBefore))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Progress is how far an attempt got, as its status record shows it.
type Progress struct {
	RecordsTotal uint64 // records in the file (0 until loaded)
	RecordsSent  uint64 // records handed to the batch server's stream
	RecordsAcked uint64 // records the batch server acknowledged (its answer, at commit)
	ChunksSent   uint64
	BytesSent    uint64
	// Phase is what the attempt does now (PhaseLoading, PhaseStreaming,
	// PhaseCommitting) since PhaseSince; StreamingSince is when it began
	// streaming. The settling transitions clear Phase.
	Phase          string
	PhaseSince     time.Time
	StreamingSince time.Time
}

func (p Progress) fill(s *Status) {
	s.RecordsTotal, s.RecordsSent, s.ChunksSent, s.BytesSent = p.RecordsTotal, p.RecordsSent, p.ChunksSent, p.BytesSent
	s.RecordsAcked = p.RecordsAcked
	s.Phase, s.PhaseSince, s.StreamingSince = p.Phase, p.PhaseSince, p.StreamingSince
}

// Handoff says how [Delivery.HandBack] or [Delivery.Release] returned a
// job to the queue.
type Handoff struct {
	// Republished is true when the delivery was the last allowed one: the
	// job was published again for another worker (Seq and Duplicate are
	// the copy's) and this delivery terminated.
	Republished bool
	Seq         uint64
	Duplicate   bool
	// PublishErr is set when the republish on the last delivery failed;
	// the delivery was Nak'd instead (its deliveries then run out).
	PublishErr error
}

// Delivery is one delivery of one job to one worker: the message fetched
// by [Consumer.Next], parsed once, with the transitions that write the
// job's status record and settle the message. Every transition writes the
// status before it settles the message (so the next delivery's "running"
// always comes after this one's outcome), and never lets a stale delivery
// overwrite a success or a later attempt's record; a success is always
// written. A status write that fails does not stop a transition (the
// record is a report, the message is the truth): it is logged on the
// logger the context carries ([telemetry.WithLogger]) unless the context
// is done.
//
// A delivery is settled once: by [Delivery.Succeed], [Delivery.Retry],
// [Delivery.Fail], [Delivery.HandBack] or [Delivery.Release]; later ones
// return [ErrSettled]. One that is never settled (its lease was lost, or
// a later delivery superseded it) returns to the queue after AckWait.
// Start, Progress, Superseded and ExtendLease may run concurrently with
// each other and with one settling transition.
type Delivery struct {
	c        *Consumer
	msg      jetstream.Msg
	m        jobMsg
	job      Job
	jobErr   error
	received time.Time

	deadLettered atomic.Bool
	settled      atomic.Bool
	// cancelAsked is set once a status write saw the record's
	// CancelRequestedAt ([Delivery.CancelRequested]).
	cancelAsked atomic.Bool
	// recordSince is the status record's RetryingSince as Start found it
	// (unix nanoseconds; 0: none): see [Delivery.RetryingSince].
	recordSince atomic.Int64
}

// Job returns the job, parsed once when the message was fetched. For a
// message that is not a valid job it returns the job named by id and
// domain only (see [JobIDFromMsg]; the domain is the subject's) and the
// parse error, which wraps [ErrBadJob].
func (d *Delivery) Job() (Job, error) { return d.job, d.jobErr }

// StreamSeq returns the message's sequence in the job stream.
func (d *Delivery) StreamSeq() uint64 { return d.m.seq }

// NumDelivered returns how many times this message was delivered, this
// delivery included: 1 first.
func (d *Delivery) NumDelivered() int { return d.m.deliveries }

// Attempt returns the job's attempt: [Delivery.NumDelivered] plus the
// attempts made before a handoff ([HeaderAttemptsBefore]).
func (d *Delivery) Attempt() int { return d.m.attempt() }

// Timestamp returns when the job stream stored the message.
func (d *Delivery) Timestamp() time.Time { return d.m.stored }

// Subject returns the message's subject, ingest.jobs.<domain>.
func (d *Delivery) Subject() string { return d.m.subject }

// Worker returns the name of the worker holding the delivery.
func (d *Delivery) Worker() string { return d.c.worker }

// Received returns when the worker received the delivery: the start of
// its attempt in the status record's history.
func (d *Delivery) Received() time.Time { return d.received }

// Last reports whether this is the consumer's last allowed delivery of the
// message; with MaxDeliver -1 (unlimited) none is.
func (d *Delivery) Last() bool {
	return d.c.maxDeliver > 0 && d.m.deliveries >= d.c.maxDeliver
}

// ExtendLease resets the delivery's AckWait with an in-progress ack
// ("+WPI") sent as a request on the message's reply subject
// (jetstream.Msg.InProgress is fire and forget). A nil error means the
// server received the ack while the message was pending, not that this
// delivery still holds it: a process paused for longer than AckWait gets a
// reply although the job was redelivered meanwhile. Judging the lease is
// the caller's policy. Errors: the request's (no reply in time, no
// responders, connection closed).
func (d *Delivery) ExtendLease(ctx context.Context) error {
	if _, err := d.c.q.nc.RequestWithContext(ctx, d.msg.Reply(), ackProgress); err != nil {
		return fmt.Errorf("queue: in-progress ack of job %s: %w", d.job.ID, err)
	}
	return nil
}

// Start marks the job running on this delivery: state running, this
// attempt and worker, StartedAt [Delivery.Received], no error, progress
// zero. A missing record (a job published straight to NATS) is created.
//
// The attempt starts in PhaseLoading. When the record asks for the job to
// be canceled, [Delivery.CancelRequested] says so from then on.
func (d *Delivery) Start(ctx context.Context) {
	d.writeStatus(ctx, func(s *Status) error {
		d.noteCancel(s)
		if s.State == StateCanceled {
			return ErrSkipUpdate // canceled while it waited: the worker settles it with Cancel
		}
		d.noteRecordSince(s.RetryingSince)
		d.fill(s)
		s.State = StateRunning
		s.StartedAt = d.received
		s.StreamSeq = d.m.seq
		s.Error, s.FinishedAt, s.NextRetryAt = nil, time.Time{}, time.Time{}
		Progress{Phase: PhaseLoading, PhaseSince: d.received}.fill(s)
		return nil
	})
}

// Progress writes p to the status record, but only while the record still
// shows this attempt running on this worker: another delivery owns it
// otherwise.
func (d *Delivery) Progress(ctx context.Context, p Progress) {
	d.writeStatus(ctx, func(s *Status) error {
		d.noteCancel(s)
		if s.State != StateRunning || s.Attempts != d.Attempt() || s.Worker != d.c.worker {
			return ErrSkipUpdate
		}
		p.fill(s)
		return nil
	})
}

// Superseded reports whether the job's status record shows an attempt
// later than this delivery's: a later delivery runs the job (this one's
// lease ran out unnoticed), and a Nak or Term from here would act on that
// delivery's message. It is a best-effort check (the later delivery may
// not have written its record yet); a failed read says no.
func (d *Delivery) Superseded(ctx context.Context) bool {
	s, err := d.c.q.GetStatus(ctx, d.job.ID)
	return err == nil && s.Attempts > d.Attempt()
}

// Succeed records the attempt as succeeded with progress p, then
// acknowledges the message with DoubleAck (so the worker knows whether the
// ack landed). The success is written even when a later delivery started
// meanwhile: the data is committed. Errors: [ErrSettled], or the ack's.
func (d *Delivery) Succeed(ctx context.Context, p Progress) error {
	if err := d.settle(); err != nil {
		return err
	}
	d.record(ctx, p, OutcomeSucceeded, StateSucceeded, nil)
	if err := d.msg.DoubleAck(ctx); err != nil {
		return fmt.Errorf("queue: ack job %s: %w", d.job.ID, err)
	}
	return nil
}

// Retry records the attempt as failed with jerr, to be retried (state
// retrying, RetryingSince kept or set to now, NextRetryAt now plus delay),
// then Naks the message with delay. On the last allowed delivery the
// message is then not delivered again: see [Delivery.Reschedule], which
// hands it off instead. Errors: [ErrSettled], or the Nak's.
func (d *Delivery) Retry(ctx context.Context, p Progress, jerr JobError, delay time.Duration) error {
	if err := d.settle(); err != nil {
		return err
	}
	d.recordRetry(ctx, p, jerr, delay, 0)
	if err := d.msg.NakWithDelay(delay); err != nil {
		return fmt.Errorf("queue: nak job %s: %w", d.job.ID, err)
	}
	return nil
}

// DeadLetter publishes the job's dead letter (reason, jerr, the job's
// attempt and this worker; see [Queue.PublishDeadLetter]) and returns once
// JetStream has stored it; only then may [Delivery.Fail] terminate the
// message. It neither writes the status nor settles the message: on an
// error the caller settles it otherwise, typically with [Delivery.Retry].
// Errors: [ErrSettled], or [Queue.PublishDeadLetter]'s.
func (d *Delivery) DeadLetter(ctx context.Context, jerr JobError, reason string) error {
	if d.settled.Load() {
		return fmt.Errorf("queue: dead-letter job %s: %w", d.job.ID, ErrSettled)
	}
	if err := d.c.q.PublishDeadLetter(ctx, d.m.deadLetter(d.job, jerr, reason, d.c.worker)); err != nil {
		return err
	}
	d.deadLettered.Store(true)
	return nil
}

// Fail records the attempt as failed for good with jerr (state failed),
// then terminates the message with reason "<reason>: <class>". It refuses
// to act, returning [ErrNotDeadLettered], unless [Delivery.DeadLetter]
// stored the job's dead letter first. Errors: [ErrNotDeadLettered],
// [ErrSettled], or the Term's.
func (d *Delivery) Fail(ctx context.Context, p Progress, jerr JobError, reason string) error {
	if !d.deadLettered.Load() {
		return fmt.Errorf("queue: fail job %s: %w", d.job.ID, ErrNotDeadLettered)
	}
	if err := d.settle(); err != nil {
		return err
	}
	d.record(ctx, p, OutcomeFailed, StateFailed, &jerr)
	if err := d.msg.TermWithReason(reason + ": " + jerr.Class); err != nil {
		return fmt.Errorf("queue: term job %s: %w", d.job.ID, err)
	}
	return nil
}

// HandBack records the attempt as cut off by shutdown (state retrying,
// outcome shutdown, error jerr), then returns the job to the queue for
// another worker at once: see [Delivery.Release]. It is not a failure:
// nothing is dead-lettered. Errors: [ErrSettled], or the Nak's or Term's.
func (d *Delivery) HandBack(ctx context.Context, p Progress, jerr JobError) (Handoff, error) {
	if err := d.settle(); err != nil {
		return Handoff{}, err
	}
	d.record(ctx, p, OutcomeShutdown, StateRetrying, &jerr)
	return d.handBack(ctx)
}

// Release returns a delivery that never started (fetched while the worker
// stops) to the queue, leaving the status record alone. Before the last
// allowed delivery the message is Nak'd without delay. On the last one a
// Nak would exhaust the deliveries (and the MAX_DELIVERIES advisory would
// dead-letter a job that never failed), so the job is handed off instead:
// its body is republished on its subject with its id ([HeaderJobID]), a
// Nats-Msg-Id of its own, "<id>:handoff:<stream seq>:<attempt>" (a retried
// publish is deduplicated), and [HeaderAttemptsBefore] set to this
// attempt; only once JetStream has stored the copy is this message
// terminated ("shutdown handoff"). If that publish fails, the message is
// Nak'd ([Handoff.PublishErr]). Errors: [ErrSettled], or the Nak's or
// Term's.
func (d *Delivery) Release(ctx context.Context) (Handoff, error) {
	if err := d.settle(); err != nil {
		return Handoff{}, err
	}
	return d.handBack(ctx)
}

func (d *Delivery) handBack(ctx context.Context) (Handoff, error) {
	if !d.Last() {
		return Handoff{}, d.nak()
	}
	return d.handOff(ctx)
}

// handOff republishes the job for another delivery and terminates this
// one once the copy is stored; if the publish fails, it Naks instead.
func (d *Delivery) handOff(ctx context.Context) (Handoff, error) {
	id, attempt := d.job.ID, d.Attempt()
	cp := nats.NewMsg(d.m.subject)
	cp.Data = d.m.data
	cp.Header.Set(HeaderJobID, id)
	cp.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s:handoff:%d:%d", id, d.m.seq, attempt))
	cp.Header.Set(HeaderAttemptsBefore, strconv.Itoa(attempt))
	if since := d.RetryingSince(); !since.IsZero() {
		cp.Header.Set(HeaderRetryingSince, since.UTC().Format(time.RFC3339Nano))
	}
	ack, err := d.c.q.js.PublishMsg(ctx, cp)
	if err != nil {
		return Handoff{PublishErr: classify("queue: hand off job "+id, err)}, d.nak()
	}
	h := Handoff{Republished: true, Seq: ack.Sequence, Duplicate: ack.Duplicate}
	if err := d.msg.TermWithReason(handoffReason); err != nil {
		return h, fmt.Errorf("queue: term job %s after its handoff: %w", id, err)
	}
	return h, nil
}

func (d *Delivery) nak() error {
	if err := d.msg.Nak(); err != nil {
		return d.nakErr(err)
	}
	return nil
}

func (d *Delivery) nakErr(err error) error {
	return fmt.Errorf("queue: nak job %s: %w", d.job.ID, err)
}

// settle claims the delivery's one settlement.
func (d *Delivery) settle() error {
	if !d.settled.CompareAndSwap(false, true) {
		return fmt.Errorf("queue: job %s, delivery %d: %w", d.job.ID, d.m.deliveries, ErrSettled)
	}
	return nil
}

// record writes how the attempt ended to the status record, with its
// entry in the history. A success is always written (the data is
// committed, even if a later delivery started meanwhile); other outcomes
// never overwrite a success or the record of a later delivery. A success
// or a failure ends the job's run of retries (RetryingSince and
// NextRetryAt cleared); then retry, when not nil, changes the record
// further (recordRetry).
func (d *Delivery) record(ctx context.Context, p Progress, outcome, state string, jerr *JobError) {
	d.recordWith(ctx, p, outcome, state, jerr, nil)
}

func (d *Delivery) recordWith(ctx context.Context, p Progress, outcome, state string, jerr *JobError, retry func(*Status)) {
	if jerr != nil {
		jerr.Message = clip.Text(jerr.Message, MaxErrorBytes)
	}
	finished := time.Now()
	attempt := d.Attempt()
	d.writeStatus(ctx, func(s *Status) error {
		if state != StateSucceeded && (s.State == StateSucceeded || s.Attempts > attempt) {
			return ErrSkipUpdate
		}
		seen := s.Attempts
		d.fill(s)
		s.Attempts = max(seen, attempt) // a success may land after a later delivery started
		p.fill(s)
		s.Phase, s.PhaseSince = "", time.Time{}
		s.State, s.Error = state, jerr
		if Finished(state) {
			s.FinishedAt = finished
			s.RetryingSince, s.NextRetryAt, s.RetryDeadline = time.Time{}, time.Time{}, time.Time{}
		}
		if retry != nil {
			retry(s)
		}
		s.History = appendAttempt(s.History, Attempt{
			Attempt: attempt, Worker: d.c.worker, StartedAt: d.received, FinishedAt: finished,
			Outcome: outcome, Error: jerr,
		})
		return nil
	})
}

// fill sets the status fields that identify the job and this attempt (the
// record may not exist yet: jobs published straight to NATS have none).
func (d *Delivery) fill(s *Status) {
	s.JobID, s.Domain, s.FileName = d.job.ID, d.job.Domain, d.job.FileName
	s.Source = d.job.Source
	if s.Source == "" {
		s.Source = SourceFile
	}
	if s.EnqueuedAt.IsZero() {
		s.EnqueuedAt = d.job.EnqueuedAt
	}
	s.Attempts, s.Worker = d.Attempt(), d.c.worker
}

// writeStatus applies fn to the job's status record; a failure is logged
// on ctx's logger unless ctx is done.
func (d *Delivery) writeStatus(ctx context.Context, fn func(*Status) error) {
	if _, err := d.c.q.UpdateStatus(ctx, d.job.ID, fn); err != nil && ctx.Err() == nil {
		telemetry.Logger(ctx).Warn().Err(err).Msg("status update failed")
	}
}

// gone reports whether JetStream says the consumer does not exist, asking
// for at most wait. Any other answer (it exists, or JetStream did not
// answer) is false: the caller reports the pull's own error.
func (c *Consumer) gone(wait time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	// A lookup of its own, not c.cons.Info: the slots share c.cons, and
	// Info writes the info it caches without a lock (see Queue.streamInfo).
	_, err := c.q.js.Consumer(ctx, c.q.cfg.Stream, ConsumerName)
	return errors.Is(err, jetstream.ErrConsumerNotFound)
}
