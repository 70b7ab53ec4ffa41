package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// blindReads is a real queue whose GetStatus never finds anything, so
// waitJob can only learn of the job's progress through its watch.
type blindReads struct{ *queue.Queue }

func (blindReads) GetStatus(_ context.Context, id string) (queue.Status, error) {
	return queue.Status{}, queue.ErrNotFound
}

// TestWaitJobFollowsTheWatch: --wait follows the job's KV key as it is
// written, not by reading it.
func TestWaitJobFollowsTheWatch(t *testing.T) {
	t.Parallel()
	s := queuetest.StartServer(t)
	q := queuetest.OpenQueue(t, s, queuetest.Config())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := q.Enqueue(ctx, queue.Job{ID: "followed", Domain: "recruit", FileName: "a.pkl"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	env := &Env{Stdout: &out}
	waited := make(chan error, 1)
	go func() { waited <- waitJob(ctx, env, blindReads{q}, "followed", false) }()
	for _, st := range []queue.Status{
		{State: queue.StateRunning, RecordsTotal: 10, RecordsSent: 5, Attempts: 1},
		{State: queue.StateSucceeded, RecordsTotal: 10, RecordsSent: 10, ChunksSent: 2, Attempts: 1},
	} {
		if _, err := q.UpdateStatus(ctx, "followed", func(s *queue.Status) error {
			s.State, s.RecordsTotal, s.RecordsSent, s.ChunksSent, s.Attempts = st.State, st.RecordsTotal, st.RecordsSent, st.ChunksSent, st.Attempts
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-waited; err != nil {
		t.Fatalf("waitJob: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "job followed succeeded: 10 of 10 records acknowledged by the batch server (sent in 2 chunks)") {
		t.Fatalf("output:\n%s", out.String())
	}
}
