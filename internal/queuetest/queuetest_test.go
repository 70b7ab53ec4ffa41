package queuetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

func TestRestartKeepsPortAndData(t *testing.T) {
	t.Parallel()
	s := queuetest.StartServer(t)
	q := queuetest.OpenQueue(t, s, queuetest.Config())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: "a.pkl"})
	if err != nil {
		t.Fatal(err)
	}
	url := s.URL()
	s.Restart(t)
	if s.URL() != url {
		t.Fatalf("URL after restart = %s, want %s", s.URL(), url)
	}
	// The old connection reconnects; the job and its status survived.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !q.Conn().IsConnected() {
		select {
		case <-ctx.Done():
			t.Fatal("no reconnect")
		case <-tick.C:
		}
	}
	st, err := q.GetStatus(ctx, res.JobID)
	if err != nil || st.State != queue.StateQueued {
		t.Fatalf("status after restart: %+v, %v", st, err)
	}
	if n := queuetest.StreamMsgs(t, s, queue.DefaultStream); n != 1 {
		t.Fatalf("job stream holds %d messages after restart, want 1", n)
	}
	s.Shutdown()
	s.Shutdown() // idempotent
}
