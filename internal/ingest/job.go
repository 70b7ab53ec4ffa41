package ingest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/telemetry"
)

// jobRun is one delivery of one job inside a worker.
type jobRun struct {
	w       *Worker
	d       *queue.Delivery
	job     queue.Job
	attempt int       // the job's attempt: delivery plus attempts before a handoff
	started time.Time // when the delivery was received
	log     zerolog.Logger

	// leaseAt is when the lease was last confirmed (first: when the job
	// was received); read by the lease keeper and BeforeCommit.
	leaseMu sync.Mutex
	leaseAt time.Time

	// total is the dataset's records; records and chunks count the whole
	// dataset, staged chunks a resumed stream did not send included;
	// bytes are what this attempt sent; resumed are the records the
	// stream resumed from (0: a full stream).
	total                           atomic.Int64
	records, chunks, bytes, resumed atomic.Uint64
	acked                           atomic.Uint64 // records the batch server acknowledged (its answer)

	live liveState // phase, and the signals of the progress writer and cancel
}

// handle runs one delivery to its end: it never panics and always settles
// it (ack, nak, term or handoff), except when the lease was lost or a
// later delivery superseded it.
func (w *Worker) handle(workCtx context.Context, d *queue.Delivery) {
	job, parseErr := d.Job()
	j := &jobRun{w: w, d: d, job: job, attempt: d.Attempt(), started: d.Received(), log: w.log}
	j.leaseAt = j.started
	defer func() {
		// Last resort: a bug while settling must not take the worker and
		// its other jobs down. The message, unsettled, returns after AckWait.
		if v := recover(); v != nil {
			j.log.Error().Interface("panic", v).Msg("panic while settling a job; it will be redelivered")
		}
	}()
	j.log = w.log.With().Str("job_id", job.ID).Str("domain", job.Domain).Int("attempt", j.attempt).
		Uint64("stream_seq", d.StreamSeq()).Logger()
	ctx := telemetry.WithLogger(workCtx, j.log)

	w.metrics.delivered(d.NumDelivered())
	if d.NumDelivered() == 1 {
		w.metrics.queueWait.WithLabelValues(j.metricDomain()).Observe(d.Received().Sub(d.Timestamp()).Seconds())
	}
	w.metrics.inFlight.Inc()
	defer w.metrics.inFlight.Dec()
	w.running.add(j)
	defer w.running.remove(j)

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
	bg.Go(func() { j.keepLease(jctx, cancel, j.d.ExtendLease) })

	j.log.Info().Str("file_name", j.job.FileName).Str("source", j.job.Source).Msg("job started")
	j.live.begin(cancel, j.started)
	j.d.Start(jctx)
	if j.d.CancelRequested() {
		j.requestCancel("status record")
	}
	bg.Go(func() { j.writeProgress(jctx) })

	rep, err := j.w.proc.Run(jctx, j.job, j.attempt, j)
	j.w.metrics.observePhases(j.metricDomain(), rep.Phases)
	if err != nil && jctx.Err() != nil {
		// Cut off by shutdown or a lost lease: say so, whatever failed.
		err = fmt.Errorf("%w (%w)", context.Cause(jctx), err)
	}
	if err == nil {
		j.total.Store(int64(rep.Records))
		j.records.Store(rep.Result.ResumedRecords + rep.Result.RecordsReceived)
		j.acked.Store(rep.Result.ResumedRecords + rep.Result.RecordsReceived)
		if rep.Result.Duplicate {
			j.log.Info().Msg("batch server had committed this job already (duplicate)")
		}
	}
	return err
}

// Loaded implements [Observer]: the file is loaded, streaming begins.
func (j *jobRun) Loaded(records int, fileBytes int64) {
	j.total.Store(int64(records))
	j.live.enter(queue.PhaseStreaming)
	j.log.Debug().Int("records", records).Int64("file_bytes", fileBytes).Msg("file loaded")
}

// Resumed implements [Observer]: it says on the job's log and in the
// metrics that this attempt resumes the stream at chunk chunks, and starts
// the progress counters there.
func (j *jobRun) Resumed(chunks, records uint64) {
	j.resumed.Store(records)
	j.records.Store(records)
	j.chunks.Store(chunks)
	j.w.metrics.resumed(j.metricDomain(), records)
	j.log.Info().Uint64("resume_chunk", chunks).Uint64("resume_record", records).Int64("records_total", j.total.Load()).
		Msg("stream resumed at resume_chunk: the batch server had staged the chunks before it")
}

// Sent implements [Observer].
func (j *jobRun) Sent(records, chunks, bytes uint64) {
	j.records.Store(records)
	j.chunks.Store(chunks)
	j.bytes.Store(bytes)
}

// keepLease extends the job's AckWait every AckWait/3 with extend (the
// delivery's [queue.Delivery.ExtendLease]). The server's reply proves only
// that it received the in-progress ack while the message was pending, not
// that this delivery still holds it: a process paused for longer than
// AckWait gets a reply on its next tick although the job was meanwhile
// redelivered. So before every extension it checks how long ago the lease
// was last confirmed: AckWait or more, or two failed extensions in a row,
// and the job may be running elsewhere; it cancels the job with
// errLeaseLost.
func (j *jobRun) keepLease(ctx context.Context, cancel context.CancelCauseFunc, extend func(context.Context) error) {
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
		err := extend(rctx)
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

// BeforeCommit implements [Observer]: every chunk is sent; the stream
// commits only while the lease is still held and the job is not canceled,
// and the attempt then waits for the batch server's answer (committing).
func (j *jobRun) BeforeCommit() error {
	if err := j.leaseHeld(); err != nil {
		return err
	}
	if j.live.canceled() {
		return fmt.Errorf("%w before the commit", errCanceled)
	}
	j.live.enter(queue.PhaseCommitting)
	return nil
}

// finish decides the outcome of err and ends the delivery with the
// matching transition, which writes the final status before it settles the
// message. Each outcome is counted before its status is written, so the
// metrics never lag behind a finished status. It uses a fresh bounded
// context: the job's own may be cancelled.
func (j *jobRun) finish(ctx context.Context, err error) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), j.w.cfg.FinishTimeout)
	defer cancel()

	if err == nil {
		j.finished(OutcomeSucceeded)
		if aerr := j.d.Succeed(fctx, j.progress()); aerr != nil {
			// The batch server committed: a redelivery is answered duplicate.
			j.log.Warn().Err(aerr).Msg("ack not confirmed; a redelivery will find the job committed")
		}
		j.log.Info().Uint64("records", j.records.Load()).Uint64("chunks", j.chunks.Load()).
			Uint64("bytes_sent", j.bytes.Load()).Uint64("resumed_records", j.resumed.Load()).
			Dur("duration", time.Since(j.started)).Msg("job succeeded")
		return
	}

	e := Classify(err)
	switch {
	case e.Class == ClassLeaseLost:
		// Another worker may own the job now: leave message and status alone.
		j.log.Warn().Err(err).Msg("job lease lost: abandoned without ack")
		j.finished(OutcomeLeaseLost)

	case e.Class == ClassCanceled:
		// Nothing was committed (the stream was cancelled); no dead letter.
		j.log.Info().Msg("job canceled by an operator: stopped, nothing committed")
		j.finished(OutcomeCanceled)
		if cerr := j.d.Cancel(fctx, j.progress()); cerr != nil {
			j.log.Warn().Err(cerr).Msg("term of the canceled job failed; it returns after AckWait and is canceled again")
		}

	case j.d.Superseded(fctx):
		// A later delivery runs the job (this one's lease ran out unnoticed,
		// e.g. a starved process): a Nak or Term from here would act on that
		// delivery's message. Leave it alone, as for a lost lease.
		j.log.Warn().Err(err).Msg("job failed after a later delivery started: leaving it to that delivery")
		j.finished(OutcomeSuperseded)

	case e.Class == ClassShutdown:
		j.log.Warn().Err(err).Msg("job cut off by shutdown: handing it back for redelivery")
		j.finished(OutcomeShutdown)
		h, herr := j.d.HandBack(fctx, j.progress(), e)
		logHandoff(j.log, h, herr, handedOffShutdown)

	case e.Permanent || j.budgetSpent():
		reason := queue.ReasonPermanent
		if !e.Permanent {
			reason = queue.ReasonRetries
		}
		// Dead letter first; terminate only once it is stored.
		if derr := j.d.DeadLetter(fctx, e, reason); derr != nil {
			j.log.Error().Err(derr).Str("class", e.Class).Msg("dead-letter publish failed; retry so the job comes back")
			j.finished(OutcomeRetrying)
			h, rerr := j.d.Reschedule(fctx, j.progress(), e, j.w.backoff(j.attempt), j.w.cfg.RetryBudget)
			logHandoff(j.log, h, rerr, handedOffRetry)
			return
		}
		j.w.metrics.deadLettered.WithLabelValues(reason).Inc()
		j.log.Error().Str("class", e.Class).Str("reason", reason).Str("error", e.Message).Msg("job failed: moved to dead letters")
		j.finished(OutcomeFailed)
		if terr := j.d.Fail(fctx, j.progress(), e, reason); terr != nil {
			j.log.Warn().Err(terr).Msg("term failed after dead-lettering; a redelivery dead-letters it again")
		}

	default:
		delay := j.w.backoff(j.attempt)
		ev := j.log.Warn().Err(err).Str("class", e.Class).Dur("retry_in", delay)
		if since := j.d.RetryingSince(); !since.IsZero() {
			ev = ev.Time("retrying_since", since).Dur("budget_left", j.w.cfg.RetryBudget-time.Since(since))
		}
		ev.Msg("job failed; will retry")
		j.finished(OutcomeRetrying)
		h, rerr := j.d.Reschedule(fctx, j.progress(), e, delay, j.w.cfg.RetryBudget)
		logHandoff(j.log, h, rerr, handedOffRetry)
	}
}

// finished counts the attempt's outcome in the metrics (with the records
// and bytes it sent, not those a resumed stream skipped) and the worker's
// heartbeat.
func (j *jobRun) finished(outcome string) {
	j.w.outcomes.add(outcome)
	domain := j.metricDomain()
	records, resumed := j.records.Load(), j.resumed.Load()
	j.w.metrics.finished(domain, outcome, time.Since(j.started), records-min(resumed, records), j.bytes.Load())
	if j.attempt > 1 {
		j.w.metrics.resent(domain, j.bytes.Load())
	}
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

// Messages of [logHandoff]: why a job was republished.
const (
	handedOffShutdown = "last delivery cut off by shutdown: job republished for another worker"
	handedOffRetry    = "last delivery failed with retry budget left: job republished for its next attempt"
)

// logHandoff logs how a job went back to the queue ([queue.Delivery.HandBack],
// Release or Reschedule), saying why when it was republished: err is the
// Nak's or, after a handoff, the Term's.
func logHandoff(log zerolog.Logger, h queue.Handoff, err error, why string) {
	switch {
	case h.PublishErr != nil:
		log.Error().Err(h.PublishErr).Msg("handoff publish failed on the last delivery; nak (the deliveries run out)")
		if err != nil {
			log.Warn().Err(err).Msg("nak failed; the job returns after AckWait")
		}
	case h.Republished:
		log.Info().Uint64("handoff_seq", h.Seq).Bool("duplicate", h.Duplicate).Msg(why)
		if err != nil {
			// The copy is queued; this message returns after AckWait with
			// no delivery left and its MAX_DELIVERIES advisory may
			// dead-letter the job while the copy runs. Rare (NATS lost
			// between the publish and the term); said loudly.
			log.Error().Err(err).Msg("term after handoff failed")
		}
	case err != nil:
		log.Warn().Err(err).Msg("nak failed; the job returns after AckWait")
	}
}
