package queue

import "time"

// Pace is what a job's status record says about how the job goes,
// computed at a given time: the API returns it beside the record, and the
// CLI and the dashboard show it, so all three agree.
type Pace struct {
	// Phase is the running attempt's phase (PhaseLoading, PhaseStreaming,
	// PhaseCommitting), empty when no attempt runs.
	Phase string `json:"phase,omitempty"`
	// WaitingSeconds is how long a queued job has waited since it was
	// enqueued (0 once it started).
	WaitingSeconds float64 `json:"waiting_seconds,omitempty"`
	// ElapsedSeconds is how long the latest attempt has run (to its end
	// once finished).
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// RecordsPerSecond is the records handed to the stream per second of
	// streaming (for a finished job, acknowledged records per second).
	RecordsPerSecond float64 `json:"records_per_second"`
	// ETASeconds is the time left to send the remaining records at that
	// rate, while streaming; absent when unknown (loading, committing:
	// then the batch server's answer is what is awaited).
	ETASeconds *float64 `json:"eta_seconds,omitempty"`
	// SentPercent is records sent of the total; AckedPercent records the
	// batch server acknowledged of the total (100 only once it answered).
	SentPercent  float64 `json:"sent_percent"`
	AckedPercent float64 `json:"acked_percent"`
	// SinceUpdateSeconds is how long ago the record was last written; a
	// running attempt rewrites it at least every few seconds.
	SinceUpdateSeconds float64 `json:"since_update_seconds"`
}

// Pace computes s's [Pace] at now.
func (s Status) Pace(now time.Time) Pace {
	p := Pace{Phase: s.Phase, SinceUpdateSeconds: nonNegative(now.Sub(s.UpdatedAt))}
	if s.RecordsTotal > 0 {
		p.SentPercent = 100 * float64(min(s.RecordsSent, s.RecordsTotal)) / float64(s.RecordsTotal)
		p.AckedPercent = 100 * float64(min(s.RecordsAcked, s.RecordsTotal)) / float64(s.RecordsTotal)
	} else if s.State == StateSucceeded {
		p.SentPercent, p.AckedPercent = 100, 100
	}
	if s.State == StateQueued && !s.EnqueuedAt.IsZero() {
		p.WaitingSeconds = nonNegative(now.Sub(s.EnqueuedAt))
	}
	if !s.StartedAt.IsZero() {
		end := now
		if !s.FinishedAt.IsZero() && !s.FinishedAt.Before(s.StartedAt) {
			end = s.FinishedAt
		} else if s.State != StateRunning {
			end = s.UpdatedAt // retrying, or a record without finished_at
		}
		p.ElapsedSeconds = nonNegative(end.Sub(s.StartedAt))
	}
	if s.StreamingSince.IsZero() {
		return p
	}
	// The rate of records over the streaming time up to the write that
	// counted them.
	records, upTo := s.RecordsSent, s.UpdatedAt
	switch {
	case s.State == StateSucceeded && !s.FinishedAt.IsZero():
		records, upTo = max(s.RecordsAcked, s.RecordsSent), s.FinishedAt
	case s.Phase == PhaseCommitting && !s.PhaseSince.IsZero():
		upTo = s.PhaseSince
	}
	if d := upTo.Sub(s.StreamingSince); d > 0 && records > 0 {
		p.RecordsPerSecond = float64(records) / d.Seconds()
	}
	if s.State == StateRunning && s.Phase == PhaseStreaming && p.RecordsPerSecond > 0 && s.RecordsTotal >= s.RecordsSent {
		eta := float64(s.RecordsTotal-s.RecordsSent)/p.RecordsPerSecond - now.Sub(s.UpdatedAt).Seconds()
		eta = max(eta, 0)
		p.ETASeconds = &eta
	}
	return p
}

// Retrying says how a job waiting for its retry got there and what comes
// next, as its status record tells.
type Retrying struct {
	// Attempt is the attempt that failed; the next delivery is Attempt+1.
	Attempt int `json:"attempt"`
	// Error is its error (class and message).
	Error *JobError `json:"error,omitempty"`
	// Since is when the job's current run of transient failures began:
	// its first retried attempt's end.
	Since *time.Time `json:"retrying_since,omitempty"`
	// NextAt is when the job is delivered again, when the record says.
	NextAt *time.Time `json:"next_retry_at,omitempty"`
	// BudgetLeftSeconds is the retry budget left (RETRY_BUDGET minus the
	// time since Since), when the record says.
	BudgetLeftSeconds *float64 `json:"budget_left_seconds,omitempty"`
}

// Retrying returns what the record of a retrying job says about its
// retry, or nil when the job is not retrying.
func (s Status) Retrying(now time.Time) *Retrying {
	if s.State != StateRetrying {
		return nil
	}
	r := &Retrying{Attempt: s.Attempts, Error: s.Error}
	since, next, deadline := retryClock(s)
	if !since.IsZero() {
		r.Since = &since
	}
	if !next.IsZero() {
		r.NextAt = &next
	}
	if !deadline.IsZero() {
		left := max(deadline.Sub(now).Seconds(), 0)
		r.BudgetLeftSeconds = &left
	}
	return r
}

// retryClock returns when a retrying job's run of transient failures
// began, when it is retried next and when its retry budget runs out, as
// its record says (the worker writes RetryingSince, NextRetryAt and
// RetryDeadline when it reschedules); a record written before those
// fields existed gives the run's start from its history (the end of the
// first of the trailing retried attempts) and nothing else.
func retryClock(s Status) (since, next, deadline time.Time) {
	if !s.RetryingSince.IsZero() {
		return s.RetryingSince, s.NextRetryAt, s.RetryDeadline
	}
	for i := len(s.History) - 1; i >= 0; i-- {
		a := s.History[i]
		if a.Outcome != OutcomeRetrying && a.Outcome != OutcomeShutdown {
			break
		}
		if a.Outcome == OutcomeRetrying {
			since = a.FinishedAt
		}
	}
	return since, s.NextRetryAt, s.RetryDeadline
}

func nonNegative(d time.Duration) float64 { return max(d.Seconds(), 0) }
