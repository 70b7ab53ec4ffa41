package ingest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/telemetry"
)

// ackProgress is the JetStream ack body that resets a message's AckWait;
// sent as a request, the server's reply confirms it received it while the
// message was pending (not that this delivery still holds it).
var ackProgress = []byte("+WPI")

// HeaderAttemptsBefore is set on a job handed off at shutdown (see the
// package documentation, "Outcomes") to the attempts the job had made before: the new message's
// deliveries count from there, so attempt numbers in status, logs and the
// batch server's metadata keep increasing across the handoff.
const HeaderAttemptsBefore = "Embedstream-Attempts-Before"

// jobRun is one delivery of one job inside a worker.
type jobRun struct {
	w        *Worker
	msg      jetstream.Msg
	job      queue.Job
	seq      uint64 // stream sequence
	delivery int    // this message's delivery count, 1 first
	attempt  int    // the job's attempt: delivery plus attempts before a handoff
	started  time.Time
	log      zerolog.Logger

	// leaseAt is when the lease was last confirmed (first: when the job
	// was received); read by the lease keeper and BeforeCommit.
	leaseMu sync.Mutex
	leaseAt time.Time

	total                  atomic.Int64
	records, chunks, bytes atomic.Uint64
}

// handle runs one delivered message to its end: it never panics and always
// settles the message (ack, nak or term), except when the lease was lost.
func (w *Worker) handle(workCtx context.Context, msg jetstream.Msg) {
	j := &jobRun{w: w, msg: msg, started: time.Now(), log: w.log}
	j.leaseAt = j.started
	defer func() {
		// Last resort: a bug while settling must not take the worker and
		// its other jobs down. The message, unsettled, returns after AckWait.
		if v := recover(); v != nil {
			j.log.Error().Interface("panic", v).Msg("panic while settling a job; it will be redelivered")
		}
	}()
	md, err := msg.Metadata()
	if err != nil {
		w.log.Error().Err(err).Str("subject", msg.Subject()).Msg("message without JetStream metadata; terminating it")
		if err := msg.Term(); err != nil {
			w.log.Warn().Err(err).Msg("term failed")
		}
		return
	}
	j.seq, j.delivery = md.Sequence.Stream, int(md.NumDelivered)
	j.attempt = attemptsBefore(msg.Headers()) + j.delivery
	job, parseErr := queue.ParseJob(msg.Subject(), msg.Headers(), msg.Data(), j.seq, md.Timestamp)
	if parseErr != nil {
		// Still name the job, to dead-letter and report it.
		job.ID = queue.JobIDFromMsg(msg.Headers(), msg.Data(), j.seq, md.Timestamp)
		job.Domain = strings.TrimPrefix(msg.Subject(), queue.SubjectPrefix)
	}
	if job.EnqueuedAt.IsZero() {
		job.EnqueuedAt = md.Timestamp
	}
	j.job = job
	j.log = w.log.With().Str("job_id", job.ID).Str("domain", job.Domain).Int("attempt", j.attempt).
		Uint64("stream_seq", j.seq).Logger()
	ctx := telemetry.WithLogger(workCtx, j.log)

	w.metrics.delivered(j.delivery)
	w.metrics.inFlight.Inc()
	defer w.metrics.inFlight.Dec()

	var runErr error
	if parseErr != nil {
		runErr = parseErr
	} else {
		runErr = j.run(ctx)
	}
	j.finish(ctx, runErr)
}

// run runs the job with its lease kept and its progress written, and
// returns its error. A panic is recovered as a permanent error.
func (j *jobRun) run(ctx context.Context) (err error) {
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer func() {
		if v := recover(); v != nil {
			j.log.Error().Interface("panic", v).Msg("job panicked")
			err = recovered(v)
		}
	}()

	var bg sync.WaitGroup
	defer bg.Wait()
	defer cancel(nil) // stops the goroutines below before bg.Wait
	bg.Go(func() { j.keepLease(jctx, cancel) })

	j.log.Info().Str("file_name", j.job.FileName).Str("source", j.job.Source).Msg("job started")
	j.writeStatus(jctx, func(s *queue.Status) error {
		j.fill(s)
		s.State = queue.StateRunning
		s.StartedAt = j.started
		s.Error, s.FinishedAt = nil, time.Time{}
		s.RecordsTotal, s.RecordsSent, s.ChunksSent, s.BytesSent = 0, 0, 0, 0
		return nil
	})
	bg.Go(func() { j.writeProgress(jctx) })

	rep, err := j.w.proc.Run(jctx, j.job, j.attempt, j)
	j.w.metrics.observePhases(j.metricDomain(), rep.Phases)
	if err != nil && jctx.Err() != nil {
		// Cut off by shutdown or a lost lease: say so, whatever failed.
		err = fmt.Errorf("%w (%w)", context.Cause(jctx), err)
	}
	if err == nil {
		j.total.Store(int64(rep.Records))
		j.records.Store(rep.Result.RecordsReceived)
		if rep.Result.Duplicate {
			j.log.Info().Msg("batch server had committed this job already (duplicate)")
		}
	}
	return err
}

// Loaded implements [Observer].
func (j *jobRun) Loaded(records int, fileBytes int64) {
	j.total.Store(int64(records))
	j.log.Debug().Int("records", records).Int64("file_bytes", fileBytes).Msg("file loaded")
}

// Sent implements [Observer].
func (j *jobRun) Sent(records, chunks, bytes uint64) {
	j.records.Store(records)
	j.chunks.Store(chunks)
	j.bytes.Store(bytes)
}

// keepLease extends the job's AckWait every AckWait/3 with an in-progress
// ack sent as a request. The server's reply proves only that it received
// the ack while the message was pending, not that this delivery still
// holds it: a process paused for longer than AckWait gets a reply on its
// next tick although the job was meanwhile redelivered. So before every
// extension it checks how long ago the lease was last confirmed: AckWait or
// more, or two failed extensions in a row, and the job may be running
// elsewhere; it cancels the job with errLeaseLost.
func (j *jobRun) keepLease(ctx context.Context, cancel context.CancelCauseFunc) {
	interval := j.w.cfg.AckWait / 3
	tick := time.NewTicker(interval)
	defer tick.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := j.leaseHeld(); err != nil {
			j.log.Warn().Err(err).Msg("lease expired before it could be extended")
			cancel(err)
			return
		}
		sent := time.Now()
		rctx, rcancel := context.WithTimeout(ctx, interval)
		_, err := j.w.conn.RequestWithContext(rctx, j.msg.Reply(), ackProgress)
		rcancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			// The server extended the lease from when it got the ack, no
			// earlier than sent.
			j.leaseMu.Lock()
			j.leaseAt = sent
			j.leaseMu.Unlock()
			failures = 0
			j.w.metrics.leaseExtensions.WithLabelValues(leaseConfirmed).Inc()
			continue
		}
		failures++
		j.w.metrics.leaseExtensions.WithLabelValues(leaseFailed).Inc()
		j.log.Warn().Err(err).Int("failures", failures).Dur("since_confirmed", j.leaseSince()).Msg("lease extension not confirmed")
		if failures >= 2 {
			cancel(fmt.Errorf("%w: %d extensions in a row not confirmed: %w", errLeaseLost, failures, err))
			return
		}
	}
}

// leaseSince returns how long ago the lease was last confirmed (or the
// message delivered).
func (j *jobRun) leaseSince() time.Duration {
	j.leaseMu.Lock()
	defer j.leaseMu.Unlock()
	return time.Since(j.leaseAt)
}

// leaseHeld returns an error wrapping errLeaseLost once AckWait or more
// has passed since the lease was last confirmed: the server may have
// redelivered the job, whatever it answers to the next extension.
func (j *jobRun) leaseHeld() error {
	if since := j.leaseSince(); since >= j.w.cfg.AckWait {
		return fmt.Errorf("%w: last confirmed %s ago, AckWait is %s", errLeaseLost, since.Round(time.Millisecond), j.w.cfg.AckWait)
	}
	return nil
}

// BeforeCommit implements [Observer]: the stream commits only while the
// lease is still held.
func (j *jobRun) BeforeCommit() error { return j.leaseHeld() }

// writeProgress writes the progress counters to the status record at most
// every StatusInterval while they change.
func (j *jobRun) writeProgress(ctx context.Context) {
	tick := time.NewTicker(j.w.cfg.StatusInterval)
	defer tick.Stop()
	var written [3]uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := [3]uint64{uint64(j.total.Load()), j.records.Load(), j.chunks.Load()}
		if now == written {
			continue
		}
		written = now
		j.writeStatus(ctx, func(s *queue.Status) error {
			if s.State != queue.StateRunning || s.Attempts != j.attempt || s.Worker != j.w.cfg.Name {
				return queue.ErrSkipUpdate // another delivery owns the record now
			}
			j.fillCounters(s)
			return nil
		})
	}
}

// finish decides the outcome of err, writes the final status and settles
// the message, in that order: the status is written before the message goes
// back to the queue, so the next delivery's "running" always comes after
// it. It uses a fresh bounded context: the job's own may be cancelled.
func (j *jobRun) finish(ctx context.Context, err error) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), j.w.cfg.FinishTimeout)
	defer cancel()

	if err == nil {
		j.record(fctx, OutcomeSucceeded, queue.StateSucceeded, nil)
		if aerr := j.msg.DoubleAck(fctx); aerr != nil {
			// The batch server committed: a redelivery is answered duplicate.
			j.log.Warn().Err(aerr).Msg("ack not confirmed; a redelivery will find the job committed")
		}
		j.log.Info().Uint64("records", j.records.Load()).Uint64("chunks", j.chunks.Load()).
			Dur("duration", time.Since(j.started)).Msg("job succeeded")
		return
	}

	e := Classify(err)
	switch {
	case e.Class == ClassLeaseLost:
		// Another worker may own the job now: leave message and status alone.
		j.log.Warn().Err(err).Msg("job lease lost: abandoned without ack")
		j.w.metrics.finished(j.metricDomain(), OutcomeLeaseLost, time.Since(j.started), j.records.Load(), j.bytes.Load())

	case j.superseded(fctx):
		// A later delivery runs the job (this one's lease ran out unnoticed,
		// e.g. a starved process): a Nak or Term from here would act on that
		// delivery's message. Leave it alone, as for a lost lease.
		j.log.Warn().Err(err).Msg("job failed after a later delivery started: leaving it to that delivery")
		j.w.metrics.finished(j.metricDomain(), OutcomeSuperseded, time.Since(j.started), j.records.Load(), j.bytes.Load())

	case e.Class == ClassShutdown:
		j.log.Warn().Err(err).Msg("job cut off by shutdown: handing it back for redelivery")
		j.record(fctx, OutcomeShutdown, queue.StateRetrying, &e)
		j.w.handBack(fctx, j.msg, j.job.ID, j.seq, j.delivery, j.attempt, j.log)

	case e.Permanent || j.w.lastDelivery(j.delivery):
		reason := queue.ReasonPermanent
		if !e.Permanent {
			reason = queue.ReasonRetries
		}
		// Dead letter first; terminate only once it is stored.
		if derr := j.w.q.PublishDeadLetter(fctx, j.deadLetter(e, reason)); derr != nil {
			j.log.Error().Err(derr).Str("class", e.Class).Msg("dead-letter publish failed; nak so the job comes back")
			j.record(fctx, OutcomeRetrying, queue.StateRetrying, &e)
			if nerr := j.msg.NakWithDelay(j.w.backoff(j.attempt)); nerr != nil {
				j.log.Warn().Err(nerr).Msg("nak failed; the job returns after AckWait")
			}
			return
		}
		j.w.metrics.deadLettered.WithLabelValues(reason).Inc()
		j.log.Error().Str("class", e.Class).Str("reason", reason).Str("error", e.Message).Msg("job failed: moved to dead letters")
		j.record(fctx, OutcomeFailed, queue.StateFailed, &e)
		if terr := j.msg.TermWithReason(reason + ": " + e.Class); terr != nil {
			j.log.Warn().Err(terr).Msg("term failed after dead-lettering; a redelivery dead-letters it again")
		}

	default:
		delay := j.w.backoff(j.attempt)
		j.log.Warn().Err(err).Str("class", e.Class).Dur("retry_in", delay).Msg("job failed; will retry")
		j.record(fctx, OutcomeRetrying, queue.StateRetrying, &e)
		if nerr := j.msg.NakWithDelay(delay); nerr != nil {
			j.log.Warn().Err(nerr).Msg("nak failed; the job returns after AckWait")
		}
	}
}

// superseded reports whether the job's status record shows a delivery
// later than this one. It is a best-effort check (the later delivery may
// not have written its record yet); a failed read says no.
func (j *jobRun) superseded(ctx context.Context) bool {
	s, err := j.w.q.GetStatus(ctx, j.job.ID)
	return err == nil && s.Attempts > j.attempt
}

// record counts the attempt's outcome in the metrics and writes it to the
// status record. A success is always written (the data is committed, even
// if a later delivery started meanwhile); other outcomes never overwrite a
// success or the record of a later delivery.
func (j *jobRun) record(ctx context.Context, outcome, state string, jerr *queue.JobError) {
	j.w.metrics.finished(j.metricDomain(), outcome, time.Since(j.started), j.records.Load(), j.bytes.Load())

	finished := time.Now()
	j.writeStatus(ctx, func(s *queue.Status) error {
		if state != queue.StateSucceeded && (s.State == queue.StateSucceeded || s.Attempts > j.attempt) {
			return queue.ErrSkipUpdate
		}
		seen := s.Attempts
		j.fill(s)
		s.Attempts = max(seen, j.attempt) // a success may land after a later delivery started
		j.fillCounters(s)
		s.State, s.Error = state, jerr
		if state == queue.StateSucceeded || state == queue.StateFailed {
			s.FinishedAt = finished
		}
		s.History = append(s.History, queue.Attempt{
			Attempt: j.attempt, Worker: j.w.cfg.Name, StartedAt: j.started, FinishedAt: finished,
			Outcome: outcome, Error: jerr,
		})
		return nil
	})
}

// metricDomain is the job's domain as a metric label: a name the worker
// does not know (or a job that could not be parsed) is "invalid", so that
// arbitrary subjects cannot create label values.
func (j *jobRun) metricDomain() string {
	if _, err := j.w.proc.domains.Lookup(j.job.Domain); err != nil {
		return "invalid"
	}
	return j.job.Domain
}

// deadLetter builds the job's dead-letter record.
func (j *jobRun) deadLetter(e queue.JobError, reason string) queue.DeadLetter {
	return queue.DeadLetter{
		JobID:     j.job.ID,
		Domain:    j.job.Domain,
		Subject:   j.msg.Subject(),
		Job:       append([]byte(nil), j.msg.Data()...),
		Error:     e,
		Attempts:  j.attempt,
		Worker:    j.w.cfg.Name,
		Reason:    reason,
		FailedAt:  time.Now().UTC(),
		StreamSeq: j.seq,
	}
}

// fill sets the status fields that identify the job (the record may not
// exist yet: jobs published straight to NATS have none).
func (j *jobRun) fill(s *queue.Status) {
	s.JobID, s.Domain, s.FileName = j.job.ID, j.job.Domain, j.job.FileName
	s.Source = j.job.Source
	if s.Source == "" {
		s.Source = queue.SourceFile
	}
	if s.EnqueuedAt.IsZero() {
		s.EnqueuedAt = j.job.EnqueuedAt
	}
	s.Attempts, s.Worker = j.attempt, j.w.cfg.Name
	s.UpdatedAt = time.Now()
}

func (j *jobRun) fillCounters(s *queue.Status) {
	s.RecordsTotal = uint64(j.total.Load())
	s.RecordsSent, s.ChunksSent, s.BytesSent = j.records.Load(), j.chunks.Load(), j.bytes.Load()
	s.UpdatedAt = time.Now()
}

// writeStatus applies fn to the job's status record. A failed write is
// logged, not fatal: the status is a report, the message is the truth.
func (j *jobRun) writeStatus(ctx context.Context, fn func(*queue.Status) error) {
	if _, err := j.w.q.UpdateStatus(ctx, j.job.ID, fn); err != nil && !errors.Is(err, queue.ErrSkipUpdate) && ctx.Err() == nil {
		j.log.Warn().Err(err).Msg("status update failed")
	}
}

// handBack returns a delivery cut off by shutdown to the queue so that
// another worker takes it at once. Before the last allowed delivery it is
// Nak'd. On the last one a Nak would exhaust the deliveries (the
// MAX_DELIVERIES advisory would dead-letter a job that never failed), so
// the job is handed off instead: its body is republished on its subject
// with its id (header queue.HeaderJobID), a Nats-Msg-Id of its own
// "<id>:handoff:<stream seq>:<attempt>" (a retried publish is deduplicated)
// and [HeaderAttemptsBefore]; only once JetStream has stored the copy is
// this message terminated. If the publish fails, the message is Nak'd.
func (w *Worker) handBack(ctx context.Context, msg jetstream.Msg, id string, seq uint64, delivery, attempt int, log zerolog.Logger) {
	if !w.lastDelivery(delivery) {
		if err := msg.Nak(); err != nil {
			log.Warn().Err(err).Msg("nak failed; the job returns after AckWait")
		}
		return
	}
	copyMsg := nats.NewMsg(msg.Subject())
	copyMsg.Data = msg.Data()
	copyMsg.Header.Set(queue.HeaderJobID, id)
	copyMsg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s:handoff:%d:%d", id, seq, attempt))
	copyMsg.Header.Set(HeaderAttemptsBefore, strconv.Itoa(attempt))
	ack, err := w.q.JetStream().PublishMsg(ctx, copyMsg)
	if err != nil {
		log.Error().Err(err).Msg("handoff publish failed on the last delivery; nak (the deliveries run out)")
		if nerr := msg.Nak(); nerr != nil {
			log.Warn().Err(nerr).Msg("nak failed; the job returns after AckWait")
		}
		return
	}
	log.Info().Uint64("handoff_seq", ack.Sequence).Bool("duplicate", ack.Duplicate).
		Msg("last delivery cut off by shutdown: job republished for another worker")
	if err := msg.TermWithReason("shutdown handoff"); err != nil {
		// The copy is queued; this message returns after AckWait with no
		// delivery left and its MAX_DELIVERIES advisory may dead-letter
		// the job while the copy runs. Rare (NATS lost between the publish
		// and the term); said loudly.
		log.Error().Err(err).Msg("term after handoff failed")
	}
}

// lastDelivery reports whether delivery is the consumer's last allowed
// one; MaxDeliver -1 (unlimited) has none.
func (w *Worker) lastDelivery(delivery int) bool {
	return w.cfg.MaxDeliver > 0 && delivery >= w.cfg.MaxDeliver
}

// attemptsBefore reads [HeaderAttemptsBefore]; absent or invalid is 0.
func attemptsBefore(h nats.Header) int {
	n, err := strconv.Atoi(h.Get(HeaderAttemptsBefore))
	if err != nil || n < 0 {
		return 0
	}
	return n
}
