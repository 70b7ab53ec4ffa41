package queue_test

import (
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// TestRescheduleKeepsTheRunAcrossHandoffs: a rescheduled job's status
// says since when it is retrying and when its next attempt is due; on the
// last allowed delivery it is handed off (not left to run out of
// deliveries) with the run's start in a header, so the run's start
// survives even a lost status record; a success ends the run.
func TestRescheduleKeepsTheRunAcrossHandoffs(t *testing.T) {
	t.Parallel()
	s := queuetest.StartServer(t)
	cfg := queuetest.Config()
	cfg.MaxDeliver = 2
	q := queuetest.OpenQueue(t, s, cfg)
	ctx := testCtx(t)
	if _, err := q.Enqueue(ctx, queue.Job{ID: "b1", Domain: "recruit", FileName: "a.pkl"}); err != nil {
		t.Fatal(err)
	}
	c := jobs(t, q, "w1")

	d := next(t, c)
	d.Start(ctx)
	if !d.RetryingSince().IsZero() {
		t.Fatalf("a first attempt's run started at %v", d.RetryingSince())
	}
	before := time.Now()
	h, err := d.Reschedule(ctx, queue.Progress{}, transient, 50*time.Millisecond, time.Hour)
	if err != nil || h != (queue.Handoff{}) {
		t.Fatalf("Reschedule before the last delivery = %+v, %v; want a Nak with delay", h, err)
	}
	st, err := q.GetStatus(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	since := st.RetryingSince
	if st.State != queue.StateRetrying || since.Before(before.Add(-time.Second)) || !st.NextRetryAt.After(since) || st.Error == nil {
		t.Fatalf("status after the first failure %+v; want retrying since it, next attempt after", st)
	}
	if !st.RetryDeadline.Equal(since.Add(time.Hour)) {
		t.Fatalf("retry deadline %v, want the run's start plus the budget (%v)", st.RetryDeadline, since.Add(time.Hour))
	}
	if r := st.Retrying(since); r == nil || r.NextAt == nil || r.BudgetLeftSeconds == nil || *r.BudgetLeftSeconds != 3600 {
		t.Fatalf("Retrying view %+v: want the next retry time and an hour of budget left", r)
	}

	d = next(t, c)
	d.Start(ctx)
	if !d.RetryingSince().Equal(since) {
		t.Fatalf("second delivery's run started at %v, want %v (from the status record)", d.RetryingSince(), since)
	}
	h, err = d.Reschedule(ctx, queue.Progress{}, transient, time.Minute, time.Hour)
	if err != nil || !h.Republished || h.PublishErr != nil {
		t.Fatalf("Reschedule on the last delivery = %+v, %v; want a handoff", h, err)
	}
	raw, err := queuetest.JetStream(t, s).Stream(ctx, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := raw.GetMsg(ctx, h.Seq)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := time.Parse(time.RFC3339Nano, cp.Header.Get(queue.HeaderRetryingSince))
	if err != nil || !hdr.Equal(since) || cp.Header.Get(queue.HeaderAttemptsBefore) != "2" {
		t.Fatalf("handoff copy headers %v; want %s %v", cp.Header, queue.HeaderRetryingSince, since)
	}
	if st, err := q.GetStatus(ctx, "b1"); err != nil || st.State != queue.StateRetrying || !st.RetryingSince.Equal(since) {
		t.Fatalf("status after the handoff %+v, %v", st, err)
	}

	// The record is gone (expired, deleted): the header still knows the run.
	kv, err := queuetest.JetStream(t, s).KeyValue(ctx, queue.StatusBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	d = next(t, c)
	d.Start(ctx)
	if d.Attempt() != 3 || !d.RetryingSince().Equal(since) {
		t.Fatalf("copy: attempt %d, run since %v; want attempt 3, since %v", d.Attempt(), d.RetryingSince(), since)
	}
	if err := d.Succeed(ctx, queue.Progress{}); err != nil {
		t.Fatal(err)
	}
	if st, err := q.GetStatus(ctx, "b1"); err != nil || st.State != queue.StateSucceeded || !st.RetryingSince.IsZero() || !st.NextRetryAt.IsZero() {
		t.Fatalf("status after success %+v, %v; want the run ended", st, err)
	}
}
