package jobindex_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

var _ jobindex.Source = (*queue.Queue)(nil)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// world is a real NATS with the queue topology and a running index.
type world struct {
	t  *testing.T
	s  *queuetest.Server
	q  *queue.Queue
	ix *jobindex.Index
}

func newWorld(t *testing.T, ttl time.Duration, cfg jobindex.Config) *world {
	t.Helper()
	s := queuetest.StartServer(t)
	qc := queuetest.Config()
	if ttl > 0 {
		qc.StatusTTL = ttl
	}
	w := &world{t: t, s: s, q: queuetest.OpenQueue(t, s, qc)}
	w.ix = jobindex.New(w.q, cfg, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.ix.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("index Run: %v", err)
		}
	})
	return w
}

// put writes a status record as a worker or the publisher would.
func (w *world) put(id string, fn func(*queue.Status)) {
	w.t.Helper()
	if _, err := w.q.UpdateStatus(testCtx(w.t), id, func(s *queue.Status) error { fn(s); return nil }); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) list(q jobindex.Query) jobindex.Page {
	w.t.Helper()
	ctx := testCtx(w.t)
	if err := w.ix.Sync(ctx); err != nil {
		w.t.Fatal(err)
	}
	p, err := w.ix.List(ctx, q)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func ids(jobs []queue.Status) []string {
	out := make([]string, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, j.JobID)
	}
	return out
}

// all walks every page of q and returns the ids, in order.
func (w *world) all(q jobindex.Query) []string {
	w.t.Helper()
	var out []string
	for range 1000 {
		p := w.list(q)
		out = append(out, ids(p.Jobs)...)
		if p.Next == "" {
			return out
		}
		q.Cursor = p.Next
	}
	w.t.Fatal("more than 1000 pages")
	return nil
}

var base = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// seed writes n jobs j000.. enqueued a second apart from base: domains
// alternate recruit/candidate, states cycle through queued, running,
// succeeded, failed; file names say the domain and the number.
func (w *world) seed(n int) {
	w.t.Helper()
	states := []string{queue.StateQueued, queue.StateRunning, queue.StateSucceeded, queue.StateFailed}
	for i := range n {
		dom := []string{"recruit", "candidate"}[i%2]
		w.put(fmt.Sprintf("j%03d", i), func(s *queue.Status) {
			s.Domain, s.FileName, s.State = dom, fmt.Sprintf("%s_%03d.pkl", dom, i), states[i%4]
			s.EnqueuedAt = base.Add(time.Duration(i) * time.Second)
			if s.State == queue.StateSucceeded || s.State == queue.StateFailed {
				s.FinishedAt = base.Add(time.Duration(i)*time.Second + 30*time.Second)
			}
		})
	}
}

func TestListPagesNewestFirst(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0, jobindex.Config{})
	w.seed(250)
	got := w.all(jobindex.Query{Limit: 40})
	var want []string
	for i := 249; i >= 0; i-- {
		want = append(want, fmt.Sprintf("j%03d", i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages listed %d jobs %v...; want all 250 newest first", len(got), got[:min(5, len(got))])
	}
	first := w.list(jobindex.Query{Limit: 250})
	if len(first.Jobs) != 250 || first.Next != "" {
		t.Fatalf("one page of 250: %d jobs, next %q", len(first.Jobs), first.Next)
	}
	// Jobs arriving between pages do not shift the later pages.
	p1 := w.list(jobindex.Query{Limit: 10})
	w.put("j999", func(s *queue.Status) {
		s.Domain, s.State, s.EnqueuedAt = "recruit", queue.StateQueued, base.Add(time.Hour)
	})
	p2 := w.list(jobindex.Query{Limit: 10, Cursor: p1.Next})
	if ids(p2.Jobs)[0] != "j239" {
		t.Fatalf("second page after an insert starts at %s, want j239", ids(p2.Jobs)[0])
	}
	if _, err := w.ix.List(testCtx(t), jobindex.Query{Cursor: "!!"}); !errors.Is(err, jobindex.ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0, jobindex.Config{})
	w.seed(100)
	check := func(name string, q jobindex.Query, want func(i int) bool) {
		t.Helper()
		var exp []string
		for i := 99; i >= 0; i-- {
			if want(i) {
				exp = append(exp, fmt.Sprintf("j%03d", i))
			}
		}
		q.Limit = 7
		if got := w.all(q); !slices.Equal(got, exp) {
			t.Errorf("%s: got %v, want %v", name, got, exp)
		}
	}
	check("state", jobindex.Query{State: queue.StateFailed}, func(i int) bool { return i%4 == 3 })
	check("domain", jobindex.Query{Domain: "candidate"}, func(i int) bool { return i%2 == 1 })
	check("domain and state", jobindex.Query{Domain: "recruit", State: queue.StateSucceeded}, func(i int) bool { return i%4 == 2 })
	check("time range", jobindex.Query{Since: base.Add(10 * time.Second), Until: base.Add(20 * time.Second)}, func(i int) bool { return i >= 10 && i < 20 })
	check("range and state", jobindex.Query{State: queue.StateQueued, Since: base.Add(50 * time.Second)}, func(i int) bool { return i >= 50 && i%4 == 0 })
	check("file", jobindex.Query{File: "RECRUIT_01"}, func(i int) bool { return i >= 10 && i < 20 && i%2 == 0 })
	check("text", jobindex.Query{Text: "j04"}, func(i int) bool { return i >= 40 && i < 50 })
	check("id prefix", jobindex.Query{ID: "j09"}, func(i int) bool { return i >= 90 })
	check("exact id", jobindex.Query{ID: "j042"}, func(i int) bool { return i == 42 })
	check("exact id, other state", jobindex.Query{ID: "j042", State: queue.StateFailed}, func(int) bool { return false })
	check("nothing", jobindex.Query{Domain: "nope"}, func(int) bool { return false })
}

func TestCountsSeriesAndLiveChanges(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0, jobindex.Config{})
	w.seed(40)
	ctx := testCtx(t)
	counts := func() jobindex.Counts {
		t.Helper()
		if err := w.ix.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		c, err := w.ix.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := counts()
	if c.Total != 40 || c.States[queue.StateQueued] != 10 || c.States[queue.StateFailed] != 10 || c.States[queue.StateCanceled] != 0 ||
		c.Domains["recruit"][queue.StateSucceeded] != 10 || c.Domains["candidate"][queue.StateRunning] != 10 {
		t.Fatalf("counts %+v", c)
	}
	// A running job succeeds with 500 records after a transient failure;
	// a queued one is canceled.
	w.put("j001", func(s *queue.Status) {
		s.State, s.RecordsAcked, s.FinishedAt = queue.StateSucceeded, 500, base.Add(5*time.Minute)
		s.History = []queue.Attempt{{Attempt: 1, Outcome: queue.OutcomeRetrying, FinishedAt: base.Add(3 * time.Minute)},
			{Attempt: 2, Outcome: queue.OutcomeSucceeded, FinishedAt: base.Add(5 * time.Minute)}}
	})
	w.put("j000", func(s *queue.Status) { s.State, s.FinishedAt = queue.StateCanceled, base.Add(5*time.Minute) })
	c = counts()
	if c.States[queue.StateRunning] != 9 || c.States[queue.StateSucceeded] != 11 || c.States[queue.StateQueued] != 9 || c.States[queue.StateCanceled] != 1 {
		t.Fatalf("counts after the changes %+v", c.States)
	}
	s, err := w.ix.Series(ctx, base, base.Add(10*time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Points) != 10 || s.StepS != 60 {
		t.Fatalf("series of %d points, step %d s", len(s.Points), s.StepS)
	}
	// Finished jobs of the seed: i%4 in {2,3} finish at i+30 s: i < 30 in
	// the first minute, 30..39 in the second.
	if p := s.Points[0]; p.Succeeded != 7 || p.Failed != 7 {
		t.Errorf("first minute %+v; want 7 succeeded, 7 failed", p)
	}
	if p := s.Points[3]; p.Retried != 1 {
		t.Errorf("minute 3 %+v; want the retried attempt", p)
	}
	if p := s.Points[5]; p.Succeeded != 1 || p.Records != 500 || p.Canceled != 1 {
		t.Errorf("minute 5 %+v; want 1 succeeded with 500 records, 1 canceled", p)
	}
	if s.Totals.Succeeded != 11 || s.Totals.Failed != 10 {
		t.Errorf("totals %+v", s.Totals)
	}
	five, err := w.ix.Series(ctx, base, base.Add(10*time.Minute), 5*time.Minute)
	if err != nil || len(five.Points) != 2 || five.Points[1].Records != 500 {
		t.Fatalf("5-minute steps: %+v, %v", five, err)
	}
	// A record purged from the bucket leaves the index.
	kv, err := queuetest.JetStream(t, w.s).KeyValue(ctx, queue.StatusBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, "j001"); err != nil {
		t.Fatal(err)
	}
	if c := counts(); c.Total != 39 || c.States[queue.StateSucceeded] != 10 {
		t.Fatalf("after a purge %+v", c)
	}
	if _, ok := w.ix.Get("j001"); ok {
		t.Fatal("the purged job is still in the index")
	}
	if st, ok := w.ix.Get("j002"); !ok || st.State != queue.StateSucceeded || st.History != nil {
		t.Fatalf("Get(j002) = %+v, %v", st, ok)
	}
}

// A write JetStream stored before a listing is in it: Sync waits for the
// index to apply it.
func TestSyncReadsYourWrites(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0, jobindex.Config{})
	ctx := testCtx(t)
	for i := range 20 {
		res, err := w.q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: "a.pkl"})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.ix.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		c, err := w.ix.Counts(ctx)
		if err != nil || c.Total != i+1 {
			t.Fatalf("after enqueue %d: %+v, %v", i+1, c, err)
		}
		if _, ok := w.ix.Get(res.JobID); !ok {
			t.Fatalf("job %s not in the index", res.JobID)
		}
	}
}

// Records the bucket's TTL drops leave the index too, though the bucket
// sends no event for them.
func TestExpiry(t *testing.T) {
	t.Parallel()
	w := newWorld(t, time.Second, jobindex.Config{SweepInterval: 50 * time.Millisecond})
	w.seed(5)
	ctx := testCtx(t)
	if err := w.ix.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, 30*time.Second, "the records to expire from the index", func() bool {
		c, err := w.ix.Counts(ctx)
		return err == nil && c.Total == 0
	})
	kv, err := queuetest.JetStream(t, w.s).KeyValue(ctx, queue.StatusBucket)
	if err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, 30*time.Second, "the bucket to drop the records too", func() bool {
		_, err := kv.Get(ctx, "j000")
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
}

func TestLoadOnce(t *testing.T) {
	t.Parallel()
	s := queuetest.StartServer(t)
	q := queuetest.OpenQueue(t, s, queuetest.Config())
	ctx := testCtx(t)
	for range 3 {
		if _, err := q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: "a.pkl"}); err != nil {
			t.Fatal(err)
		}
	}
	ix, err := jobindex.Load(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ix.List(ctx, jobindex.Query{})
	if err != nil || len(p.Jobs) != 3 {
		t.Fatalf("List = %d jobs, %v", len(p.Jobs), err)
	}
	if err := ix.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}
