package queue_test

import (
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
)

func TestPace(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	sec := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Second))) }

	// Streaming: 400 of 1000 records in the 2 s since streaming began.
	st := queue.Status{State: queue.StateRunning, Phase: queue.PhaseStreaming, RecordsTotal: 1000, RecordsSent: 400,
		StartedAt: t0, StreamingSince: sec(1), PhaseSince: sec(1), UpdatedAt: sec(3)}
	p := st.Pace(sec(4))
	if p.ElapsedSeconds != 4 || p.RecordsPerSecond != 200 || p.SentPercent != 40 || p.AckedPercent != 0 || p.SinceUpdateSeconds != 1 {
		t.Errorf("streaming pace %+v", p)
	}
	if p.ETASeconds == nil || *p.ETASeconds != 2 { // 600 left at 200/s, 1 s of it gone
		t.Errorf("streaming ETA %v, want 2", p.ETASeconds)
	}
	// Committing: everything sent, no ETA (the server's answer is awaited).
	st.Phase, st.RecordsSent, st.PhaseSince, st.UpdatedAt = queue.PhaseCommitting, 1000, sec(6), sec(9)
	p = st.Pace(sec(10))
	if p.ETASeconds != nil || p.RecordsPerSecond != 200 || p.SentPercent != 100 || p.AckedPercent != 0 {
		t.Errorf("committing pace %+v", p)
	}
	// Succeeded: acknowledged, rate over streaming to the end.
	st.State, st.Phase, st.RecordsAcked, st.FinishedAt, st.UpdatedAt = queue.StateSucceeded, "", 1000, sec(11), sec(11)
	p = st.Pace(sec(60))
	if p.ElapsedSeconds != 11 || p.RecordsPerSecond != 100 || p.AckedPercent != 100 || p.ETASeconds != nil {
		t.Errorf("finished pace %+v", p)
	}
	// Queued: waiting since enqueued.
	q := queue.Status{State: queue.StateQueued, EnqueuedAt: t0, UpdatedAt: t0}
	if p := q.Pace(sec(30)); p.WaitingSeconds != 30 || p.ElapsedSeconds != 0 {
		t.Errorf("queued pace %+v", p)
	}
}

func TestRetrying(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	jerr := &queue.JobError{Class: "server_unavailable", Message: "batch server unavailable"}
	st := queue.Status{State: queue.StateRetrying, Attempts: 3, Error: jerr, History: []queue.Attempt{
		{Attempt: 1, Outcome: queue.OutcomeFailed, FinishedAt: t0},
		{Attempt: 2, Outcome: queue.OutcomeRetrying, FinishedAt: t0.Add(time.Minute)},
		{Attempt: 3, Outcome: queue.OutcomeRetrying, FinishedAt: t0.Add(2 * time.Minute)},
	}}
	r := st.Retrying(t0.Add(3 * time.Minute))
	if r == nil || r.Attempt != 3 || r.Error != jerr || r.Since == nil || !r.Since.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Retrying = %+v", r)
	}
	st.State = queue.StateRunning
	if st.Retrying(t0) != nil {
		t.Fatal("a running job is not retrying")
	}
}
