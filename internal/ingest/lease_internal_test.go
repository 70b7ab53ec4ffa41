package ingest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// TestLeaseUnconfirmedForAckWaitIsLost: a worker whose last confirmation is
// AckWait old (a paused process) treats its lease as lost before sending
// another extension, whose reply would prove nothing, and refuses to
// commit.
func TestLeaseUnconfirmedForAckWaitIsLost(t *testing.T) {
	t.Parallel()
	ctx, stop := context.WithTimeout(t.Context(), 30*time.Second)
	defer stop()
	q := queuetest.OpenQueue(t, queuetest.StartServer(t), queuetest.Config())
	if _, err := q.Enqueue(ctx, queue.Job{ID: "paused", Domain: "recruit", FileName: "a.pkl"}); err != nil {
		t.Fatal(err)
	}
	cons, err := q.Jobs(ctx, "w1")
	if err != nil {
		t.Fatal(err)
	}
	d, err := cons.Next(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The delivery's real lease extension, counted.
	var requests atomic.Int64
	extend := func(ctx context.Context) error {
		requests.Add(1)
		return d.ExtendLease(ctx)
	}
	w := &Worker{cfg: WorkerConfig{AckWait: 300 * time.Millisecond}, metrics: NewMetrics()}
	j := &jobRun{w: w, d: d, log: zerolog.Nop()}

	j.leaseAt = time.Now()
	if err := j.BeforeCommit(); err != nil {
		t.Fatalf("fresh lease: BeforeCommit = %v", err)
	}

	j.leaseAt = time.Now().Add(-2 * w.cfg.AckWait) // the process was paused
	if err := j.BeforeCommit(); !errors.Is(err, errLeaseLost) {
		t.Fatalf("stale lease: BeforeCommit = %v, want errLeaseLost", err)
	}
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	go func() { defer close(done); j.keepLease(jctx, cancel, extend) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("keepLease did not give up a stale lease")
	}
	if cause := context.Cause(jctx); !errors.Is(cause, errLeaseLost) {
		t.Fatalf("job cancelled with %v, want errLeaseLost", cause)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d extensions sent on a stale lease, want none", n)
	}
	// The lease keeper's extension itself works on a held lease.
	if err := extend(ctx); err != nil {
		t.Fatalf("ExtendLease on a pending delivery: %v", err)
	}
}
