package ingest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/queuetest"
)

// countingConn is a real NATS connection that counts lease requests.
type countingConn struct {
	*nats.Conn
	requests atomic.Int64
}

func (c *countingConn) RequestWithContext(ctx context.Context, subj string, data []byte) (*nats.Msg, error) {
	c.requests.Add(1)
	return c.Conn.RequestWithContext(ctx, subj, data)
}

// TestLeaseUnconfirmedForAckWaitIsLost: a worker whose last confirmation is
// AckWait old (a paused process) treats its lease as lost before sending
// another extension, whose reply would prove nothing, and refuses to
// commit.
func TestLeaseUnconfirmedForAckWaitIsLost(t *testing.T) {
	t.Parallel()
	conn := &countingConn{Conn: queuetest.Connect(t, queuetest.StartServer(t))}
	w := &Worker{cfg: WorkerConfig{AckWait: 300 * time.Millisecond}, conn: conn, metrics: NewMetrics()}
	j := &jobRun{w: w, log: zerolog.Nop()}

	j.leaseAt = time.Now()
	if err := j.BeforeCommit(); err != nil {
		t.Fatalf("fresh lease: BeforeCommit = %v", err)
	}

	j.leaseAt = time.Now().Add(-2 * w.cfg.AckWait) // the process was paused
	if err := j.BeforeCommit(); !errors.Is(err, errLeaseLost) {
		t.Fatalf("stale lease: BeforeCommit = %v, want errLeaseLost", err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	done := make(chan struct{})
	go func() { defer close(done); j.keepLease(ctx, cancel) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("keepLease did not give up a stale lease")
	}
	if cause := context.Cause(ctx); !errors.Is(cause, errLeaseLost) {
		t.Fatalf("job cancelled with %v, want errLeaseLost", cause)
	}
	if n := conn.requests.Load(); n != 0 {
		t.Errorf("%d extensions sent on a stale lease, want none", n)
	}
}
