package queue

import (
	"context"
	"time"
)

// HeaderRetryingSince is set on a job handed off ([Delivery.Reschedule]
// or [Delivery.HandBack] on the last allowed delivery) to when the job's
// current run of transient failures began (RFC 3339), so the retry budget
// counts from there across the handoff even if the status record is gone.
const HeaderRetryingSince = "Embedstream-Retrying-Since"

// RetryingSince returns when the job's current run of transient failures
// began, as the delivery knows it: the earlier of the status record's
// RetryingSince (as [Delivery.Start] found it) and the message's
// [HeaderRetryingSince] (set by a handoff). Zero means no failure since
// the job last succeeded, was dead-lettered or was replayed: the run
// starts with this attempt's failure, if it fails.
func (d *Delivery) RetryingSince() time.Time {
	var since time.Time
	if ns := d.recordSince.Load(); ns != 0 {
		since = time.Unix(0, ns)
	}
	if h := d.m.header.Get(HeaderRetryingSince); h != "" {
		if t, err := time.Parse(time.RFC3339Nano, h); err == nil && (since.IsZero() || t.Before(since)) {
			since = t
		}
	}
	return since
}

// noteRecordSince keeps the status record's RetryingSince for
// [Delivery.RetryingSince].
func (d *Delivery) noteRecordSince(t time.Time) {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	d.recordSince.Store(ns)
}

// Reschedule records the attempt as failed with jerr, to be retried, and
// returns the job to the queue for its next attempt: state retrying,
// RetryingSince kept ([Delivery.RetryingSince]) or set to now, NextRetryAt
// when the next attempt is due. Before the last allowed delivery the
// message is Nak'd with delay. On the last one a Nak would exhaust the
// deliveries (and the MAX_DELIVERIES advisory would dead-letter a job
// whose retry budget is not spent), so the job is handed off as
// [Delivery.Release] describes, at once (NextRetryAt now), with
// [HeaderRetryingSince] so its budget keeps counting from the run's first
// failure; if that publish fails, the message is Nak'd
// ([Handoff.PublishErr]). Whether the job is retried at all (its budget)
// is the caller's policy; budget, when positive, is written into the
// record as RetryDeadline (RetryingSince plus budget), so that operators
// see how much of it is left.
//
// Errors: [ErrSettled], or the Nak's or Term's.
func (d *Delivery) Reschedule(ctx context.Context, p Progress, jerr JobError, delay, budget time.Duration) (Handoff, error) {
	if err := d.settle(); err != nil {
		return Handoff{}, err
	}
	if !d.Last() {
		d.recordRetry(ctx, p, jerr, delay, budget)
		if err := d.msg.NakWithDelay(delay); err != nil {
			return Handoff{}, d.nakErr(err)
		}
		return Handoff{}, nil
	}
	d.recordRetry(ctx, p, jerr, 0, budget)
	return d.handOff(ctx)
}

// recordRetry records the attempt as failed with jerr, to be retried after
// delay: the run's RetryingSince is kept, or starts now; a positive budget
// sets RetryDeadline.
func (d *Delivery) recordRetry(ctx context.Context, p Progress, jerr JobError, delay, budget time.Duration) {
	now := time.Now()
	since := d.RetryingSince()
	if since.IsZero() {
		since = now
		d.noteRecordSince(now)
	}
	d.recordWith(ctx, p, OutcomeRetrying, StateRetrying, &jerr, func(s *Status) {
		if s.RetryingSince.IsZero() || since.Before(s.RetryingSince) {
			s.RetryingSince = since
		}
		s.NextRetryAt = now.Add(delay).UTC()
		s.RetryDeadline = time.Time{}
		if budget > 0 {
			s.RetryDeadline = s.RetryingSince.Add(budget).UTC()
		}
	})
}
