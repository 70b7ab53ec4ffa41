package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/telemetry"
)

// ackProgress is the JetStream ack body that resets a message's AckWait;
// sent as a request, the server's reply confirms it landed.
var ackProgress = []byte("+WPI")

// jobRun is one delivery of one job inside a worker.
type jobRun struct {
	w       *Worker
	msg     jetstream.Msg
	job     queue.Job
	seq     uint64 // stream sequence
	attempt int    // delivery count, 1 first
	started time.Time
	log     zerolog.Logger

	total                  atomic.Int64
	records, chunks, bytes atomic.Uint64
}

// handle runs one delivered message to its end: it never panics and always
// settles the message (ack, nak or term), except when the lease was lost.
func (w *Worker) handle(workCtx context.Context, msg jetstream.Msg) {
	j := &jobRun{w: w, msg: msg, started: time.Now()}
	md, err := msg.Metadata()
	if err != nil {
		w.log.Error().Err(err).Str("subject", msg.Subject()).Msg("message without JetStream metadata; terminating it")
		if err := msg.Term(); err != nil {
			w.log.Warn().Err(err).Msg("term failed")
		}
		return
	}
	j.seq, j.attempt = md.Sequence.Stream, int(md.NumDelivered)
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

	w.metrics.delivered(j.attempt)
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

	j.log.Info().Str("file_name", j.job.FileName).Str("source", j.job.Source).Msg("job started")
	j.writeStatus(jctx, func(s *queue.Status) error {
		j.fill(s)
		s.State = queue.StateRunning
		s.StartedAt = j.started
		s.Error, s.FinishedAt = nil, time.Time{}
		s.RecordsTotal, s.RecordsSent, s.ChunksSent, s.BytesSent = 0, 0, 0, 0
		return nil
	})

	var bg sync.WaitGroup
	defer bg.Wait()
	defer cancel(nil) // stops the goroutines below before bg.Wait
	bg.Go(func() { j.keepLease(jctx, cancel) })
	bg.Go(func() { j.writeProgress(jctx) })

	rep, err := j.w.proc.Run(jctx, j.job, j.attempt, j)
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
	j.log.Debug().Int("records", records).Int64("file_bytes", fileBytes).Msg("file loaded and validated")
}

// Sent implements [Observer].
func (j *jobRun) Sent(records, chunks, bytes uint64) {
	j.records.Store(records)
	j.chunks.Store(chunks)
	j.bytes.Store(bytes)
}

// keepLease extends the job's AckWait every AckWait/3 with a confirmed
// in-progress ack. When it can no longer confirm the lease (two failures in
// a row, or AckWait since the last confirmation), the job may already be
// redelivered elsewhere: it cancels the job with errLeaseLost.
func (j *jobRun) keepLease(ctx context.Context, cancel context.CancelCauseFunc) {
	ackWait := j.w.cfg.AckWait
	interval := ackWait / 3
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last, failures := time.Now(), 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, rcancel := context.WithTimeout(ctx, interval)
		_, err := j.w.conn.RequestWithContext(rctx, j.msg.Reply(), ackProgress)
		rcancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			last, failures = time.Now(), 0
			continue
		}
		failures++
		since := time.Since(last)
		j.log.Warn().Err(err).Int("failures", failures).Dur("since_confirmed", since).Msg("lease extension not confirmed")
		if failures >= 2 || since >= ackWait {
			cancel(fmt.Errorf("%w: not confirmed for %s (%d attempts): %w", errLeaseLost, since.Round(time.Millisecond), failures, err))
			return
		}
	}
}

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

// finish settles the message according to err and writes the final status,
// with a fresh bounded context: the job's own may be cancelled.
func (j *jobRun) finish(ctx context.Context, err error) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), j.w.cfg.FinishTimeout)
	defer cancel()
	var (
		outcome string
		jerr    *queue.JobError
		state   string
	)
	if err == nil {
		outcome, state = OutcomeSucceeded, queue.StateSucceeded
		if aerr := j.msg.DoubleAck(fctx); aerr != nil {
			// The batch server committed: a redelivery is answered duplicate.
			j.log.Warn().Err(aerr).Msg("ack not confirmed; a redelivery will find the job committed")
		}
		j.log.Info().Uint64("records", j.records.Load()).Uint64("chunks", j.chunks.Load()).
			Dur("duration", time.Since(j.started)).Msg("job succeeded")
	} else {
		e := Classify(err)
		jerr = &e
		switch {
		case e.Class == ClassShutdown:
			outcome, state = OutcomeShutdown, queue.StateRetrying
			j.log.Warn().Err(err).Msg("job cut off by shutdown: handing it back for redelivery")
			if nerr := j.msg.Nak(); nerr != nil {
				j.log.Warn().Err(nerr).Msg("nak failed; the job returns after AckWait")
			}
		case e.Class == ClassLeaseLost:
			// Someone else may own the job now: leave message and status alone.
			j.log.Warn().Err(err).Msg("job lease lost: abandoned without ack")
			j.w.metrics.finished(j.metricDomain(e.Class), OutcomeLeaseLost, time.Since(j.started), j.records.Load(), j.bytes.Load())
			return
		case e.Permanent || j.attempt >= j.w.cfg.MaxDeliver:
			outcome, state = j.deadLetter(fctx, e)
		default:
			outcome, state = OutcomeRetrying, queue.StateRetrying
			delay := j.w.backoff(j.attempt)
			j.log.Warn().Err(err).Str("class", e.Class).Dur("retry_in", delay).Msg("job failed; will retry")
			if nerr := j.msg.NakWithDelay(delay); nerr != nil {
				j.log.Warn().Err(nerr).Msg("nak failed; the job returns after AckWait")
			}
		}
	}
	j.w.metrics.finished(j.metricDomain(classOrEmpty(jerr)), outcome, time.Since(j.started), j.records.Load(), j.bytes.Load())

	finished := time.Now()
	j.writeStatus(fctx, func(s *queue.Status) error {
		if s.Attempts > j.attempt {
			return queue.ErrSkipUpdate // a later delivery owns the record
		}
		j.fill(s)
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

// deadLetter publishes the job to the dead letters and, only once that
// publish is stored, terminates the message. If the publish fails, the
// message is Nak'd so it comes back (or, after its last delivery, reaches
// the dead letters through the MAX_DELIVERIES advisory).
func (j *jobRun) deadLetter(ctx context.Context, e queue.JobError) (outcome, state string) {
	reason := queue.ReasonPermanent
	if !e.Permanent {
		reason = queue.ReasonRetries
	}
	dl := queue.DeadLetter{
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
	if err := j.w.q.PublishDeadLetter(ctx, dl); err != nil {
		j.log.Error().Err(err).Str("class", e.Class).Msg("dead-letter publish failed; nak so the job comes back")
		if nerr := j.msg.NakWithDelay(j.w.backoff(j.attempt)); nerr != nil {
			j.log.Warn().Err(nerr).Msg("nak failed; the job returns after AckWait")
		}
		return OutcomeRetrying, queue.StateRetrying
	}
	j.w.metrics.deadLettered.WithLabelValues(reason).Inc()
	if err := j.msg.TermWithReason(reason + ": " + e.Class); err != nil {
		j.log.Warn().Err(err).Msg("term failed after dead-lettering; a redelivery dead-letters it again")
	}
	j.log.Error().Str("class", e.Class).Str("reason", reason).Str("error", e.Message).Msg("job failed: moved to dead letters")
	return OutcomeFailed, queue.StateFailed
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

// metricDomain keeps the domain label's cardinality bounded: names that
// were never validated are not labels.
func (j *jobRun) metricDomain(class string) string {
	if class == ClassBadJob || class == ClassUnknownDomain {
		return "invalid"
	}
	return j.job.Domain
}

func classOrEmpty(e *queue.JobError) string {
	if e == nil {
		return ""
	}
	return e.Class
}
