package queue_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

func TestUpdateStatusConcurrentCAS(t *testing.T) {
	t.Parallel()
	s, q, _ := setup(t)
	const writers, each = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		// Each writer on its own connection, as separate workers would be.
		qw := queuetest.OpenQueue(t, s, queuetest.Config())
		if w%2 == 0 {
			qw = q
		}
		wg.Go(func() {
			for range each {
				_, err := qw.UpdateStatus(testCtx(t), "job:1.x", func(s *queue.Status) error {
					s.RecordsSent++
					s.History = append(s.History, queue.Attempt{Attempt: int(s.RecordsSent)})
					return nil
				})
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("UpdateStatus: %v", err)
		}
	}
	st, err := q.GetStatus(testCtx(t), "job:1.x")
	if err != nil {
		t.Fatal(err)
	}
	if st.RecordsSent != writers*each || len(st.History) != writers*each || st.JobID != "job:1.x" {
		t.Fatalf("records_sent = %d, history = %d, job_id = %q; want %d each", st.RecordsSent, len(st.History), st.JobID, writers*each)
	}
}

func TestUpdateStatusSkipAndError(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	if _, err := q.GetStatus(ctx, "nope"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("GetStatus of a missing job: %v, want ErrNotFound", err)
	}
	st, err := q.UpdateStatus(ctx, "j", func(s *queue.Status) error { s.State = queue.StateRunning; return nil })
	if err != nil || st.Revision == 0 {
		t.Fatalf("create: %+v, %v", st, err)
	}
	got, err := q.UpdateStatus(ctx, "j", func(*queue.Status) error { return queue.ErrSkipUpdate })
	if err != nil || got.Revision != st.Revision || got.State != queue.StateRunning {
		t.Fatalf("skip: %+v, %v", got, err)
	}
	boom := errors.New("boom")
	if _, err := q.UpdateStatus(ctx, "j", func(*queue.Status) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("fn error: %v, want boom", err)
	}
}

func TestListStatus(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i, c := range []struct{ domain, state string }{
		{"recruit", queue.StateSucceeded}, {"candidate", queue.StateFailed}, {"recruit", queue.StateFailed},
		{"recruit", queue.StateQueued}, {"recruit", queue.StateFailed},
	} {
		_, err := q.UpdateStatus(ctx, fmt.Sprint("j", i), func(s *queue.Status) error {
			s.Domain, s.State, s.EnqueuedAt = c.domain, c.state, base.Add(time.Duration(i)*time.Minute)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ids := func(ss []queue.Status) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.JobID)
		}
		return out
	}
	for _, tt := range []struct {
		f    queue.Filter
		want string
	}{
		{queue.Filter{}, "[j4 j3 j2 j1 j0]"},
		{queue.Filter{State: queue.StateFailed, Domain: "recruit"}, "[j4 j2]"},
		{queue.Filter{State: queue.StateFailed, Limit: 2}, "[j4 j2]"},
		{queue.Filter{Limit: 1}, "[j4]"},
		{queue.Filter{Limit: 2}, "[j4 j3]"},
		{queue.Filter{Domain: "candidate"}, "[j1]"},
		{queue.Filter{Domain: "other"}, "[]"},
	} {
		got, err := q.ListStatus(ctx, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if s := fmt.Sprint(ids(got)); s != tt.want {
			t.Errorf("ListStatus(%+v) = %s, want %s", tt.f, s, tt.want)
		}
	}
}

func TestListStatusEmpty(t *testing.T) {
	t.Parallel()
	_, q, _ := setup(t)
	got, err := q.ListStatus(testCtx(t), queue.Filter{})
	if err != nil || len(got) != 0 {
		t.Fatalf("ListStatus on an empty bucket: %v, %v", got, err)
	}
}

func TestWatchStatus(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	ch, err := q.WatchStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, queue.Job{ID: "w1", Domain: "recruit", FileName: "a.pkl"}); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-ch:
		if st.JobID != "w1" || st.State != queue.StateQueued {
			t.Fatalf("watched %+v", st)
		}
	case <-ctx.Done():
		t.Fatal("no status update seen")
	}
}

func TestWatchJob(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	if _, err := q.Enqueue(ctx, queue.Job{ID: "watch.me:1", Domain: "recruit", FileName: "a.pkl"}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, queue.Job{ID: "other", Domain: "recruit", FileName: "a.pkl"}); err != nil {
		t.Fatal(err)
	}
	updates, err := q.WatchJob(ctx, "watch.me:1")
	if err != nil {
		t.Fatal(err)
	}
	next := func() queue.Status {
		t.Helper()
		select {
		case st, ok := <-updates:
			if !ok {
				t.Fatal("watch closed")
			}
			return st
		case <-ctx.Done():
			t.Fatal("no status update")
		}
		return queue.Status{}
	}
	if st := next(); st.JobID != "watch.me:1" || st.State != queue.StateQueued {
		t.Fatalf("first update = %+v, want the current queued record", st)
	}
	for _, state := range []string{queue.StateRunning, queue.StateSucceeded} {
		if _, err := q.UpdateStatus(ctx, "other", func(s *queue.Status) error { s.State = state; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := q.UpdateStatus(ctx, "watch.me:1", func(s *queue.Status) error { s.State = state; return nil }); err != nil {
			t.Fatal(err)
		}
		if st := next(); st.JobID != "watch.me:1" || st.State != state {
			t.Fatalf("update = %+v, want %s of watch.me:1", st, state)
		}
	}
}
