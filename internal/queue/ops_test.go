package queue_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
)

var missingFile = queue.JobError{Class: "file_not_found", Message: "missing.pkl: no such file", Permanent: true}

// failOnce plays a worker that meets a permanent error on the next
// delivery: start, dead letter, fail. It returns the delivery's attempt.
func failOnce(t *testing.T, q *queue.Queue, c *queue.Consumer) int {
	t.Helper()
	ctx := testCtx(t)
	d := next(t, c)
	d.Start(ctx)
	if err := d.DeadLetter(ctx, missingFile, queue.ReasonPermanent); err != nil {
		t.Fatal(err)
	}
	if err := d.Fail(ctx, queue.Progress{}, missingFile, queue.ReasonPermanent); err != nil {
		t.Fatal(err)
	}
	return d.Attempt()
}

// A job that fails, is replayed and fails again counts on: attempt 2, its
// history shows attempts 1 and 2 once each, and its new dead letter says 2
// attempts.
func TestReplayCarriesAttempts(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	c := jobs(t, q, "w1")
	if _, err := q.Enqueue(ctx, queue.Job{ID: "again", Domain: "recruit", FileName: "missing.pkl"}); err != nil {
		t.Fatal(err)
	}
	if a := failOnce(t, q, c); a != 1 {
		t.Fatalf("first attempt is %d", a)
	}
	if _, err := q.ReplayDeadLetter(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	if a := failOnce(t, q, c); a != 2 {
		t.Fatalf("the replay's attempt is %d, want 2", a)
	}
	st, err := q.GetStatus(ctx, "again")
	if err != nil {
		t.Fatal(err)
	}
	var attempts []int
	for _, h := range st.History {
		attempts = append(attempts, h.Attempt)
	}
	if st.State != queue.StateFailed || st.Attempts != 2 || !slices.Equal(attempts, []int{1, 2}) {
		t.Fatalf("status %s after %d attempts, history attempts %v; want failed after 2, history [1 2]", st.State, st.Attempts, attempts)
	}
	dl, err := q.GetDeadLetter(ctx, "again")
	if err != nil || dl.Attempts != 2 {
		t.Fatalf("dead letter after the second failure: %+v, %v; want 2 attempts", dl, err)
	}
}

// A replay whose attempt a worker has already run (and finished) before
// the replay wrote "queued" keeps the worker's record: the later attempt
// is not overwritten with a stale "queued" that nothing would end.
func TestReplayDoesNotOverwriteTheReplayedAttempt(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	c := jobs(t, q, "w1")
	if _, err := q.Enqueue(ctx, queue.Job{ID: "fast", Domain: "recruit", FileName: "missing.pkl"}); err != nil {
		t.Fatal(err)
	}
	failOnce(t, q, c)
	// The worker's record of the replayed attempt lands first.
	if _, err := q.UpdateStatus(ctx, "fast", func(s *queue.Status) error {
		s.Attempts = 2
		s.History = append(s.History, queue.Attempt{Attempt: 2, Worker: "w1", Outcome: queue.OutcomeFailed})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ReplayDeadLetter(ctx, "fast"); err != nil {
		t.Fatal(err)
	}
	st, err := q.GetStatus(ctx, "fast")
	if err != nil || st.State != queue.StateFailed || st.Attempts != 2 {
		t.Fatalf("status after the replay: %s after %d attempts (%v); want the worker's failed attempt 2", st.State, st.Attempts, err)
	}
}

// A queued job is canceled at once: its message leaves the work queue and
// no worker ever gets it; cancelling again is a no-op; a finished or
// unknown job cannot be canceled.
func TestCancelQueuedJob(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	for _, id := range []string{"first", "second"} {
		if _, err := q.Enqueue(ctx, queue.Job{ID: id, Domain: "recruit", FileName: id + ".pkl"}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := q.CancelJob(ctx, "first")
	if err != nil || res.State != queue.StateCanceled || res.Canceling {
		t.Fatalf("CancelJob(first) = %+v, %v; want canceled at once", res, err)
	}
	st, err := q.GetStatus(ctx, "first")
	if err != nil || st.State != queue.StateCanceled || st.CancelRequestedAt.IsZero() || st.FinishedAt.IsZero() {
		t.Fatalf("status of the canceled job: %+v, %v", st, err)
	}
	if n := streamMsgs(t, q, queue.DefaultStream); n != 1 {
		t.Fatalf("%d jobs in the work queue, want 1 (the other)", n)
	}
	d := next(t, jobs(t, q, "w1"))
	if job, _ := d.Job(); job.ID != "second" {
		t.Fatalf("the worker got %s, want second", job.ID)
	}
	if err := d.Succeed(ctx, queue.Progress{}); err != nil {
		t.Fatal(err)
	}
	if res, err := q.CancelJob(ctx, "first"); err != nil || res.State != queue.StateCanceled {
		t.Fatalf("second cancel = %+v, %v; want a no-op", res, err)
	}
	if _, err := q.CancelJob(ctx, "second"); !errors.Is(err, queue.ErrFinished) {
		t.Fatalf("cancel of a succeeded job: %v, want ErrFinished", err)
	}
	if _, err := q.CancelJob(ctx, "nope"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("cancel of an unknown job: %v, want ErrNotFound", err)
	}
	if _, err := q.GetStatus(ctx, "nope"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("cancel created a record for an unknown job: %v", err)
	}
	if n, err := q.DeadLetterCount(ctx); err != nil || n != 0 {
		t.Fatalf("%d dead letters (%v), want none", n, err)
	}
}

// A job waiting for its retry (Nak'd with a delay) is canceled at once too.
func TestCancelRetryingJob(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	if _, err := q.Enqueue(ctx, queue.Job{ID: "flaky", Domain: "recruit", FileName: "a.pkl"}); err != nil {
		t.Fatal(err)
	}
	d := next(t, jobs(t, q, "w1"))
	d.Start(ctx)
	if err := d.Retry(ctx, queue.Progress{}, transient, time.Hour); err != nil {
		t.Fatal(err)
	}
	res, err := q.CancelJob(ctx, "flaky")
	if err != nil || res.State != queue.StateCanceled {
		t.Fatalf("CancelJob = %+v, %v; want canceled", res, err)
	}
	if n := streamMsgs(t, q, queue.DefaultStream); n != 0 {
		t.Fatalf("%d jobs left in the work queue", n)
	}
	if st, _ := q.GetStatus(ctx, "flaky"); len(st.History) != 1 || st.History[0].Outcome != queue.OutcomeRetrying {
		t.Fatalf("history %+v; want the retried attempt kept", st.History)
	}
}

// A running job's cancel is announced and recorded; the delivery sees it
// on its next progress write, settles with Cancel (state canceled, outcome
// canceled, message terminated) and nothing is dead-lettered.
func TestCancelRunningJob(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	heard := make(chan string, 4)
	watchCtx, stopWatch := context.WithCancel(testCtx(t))
	watched := make(chan error, 1)
	go func() { watched <- q.WatchCancels(watchCtx, func(id string) { heard <- id }) }()
	if _, err := q.Enqueue(ctx, queue.Job{ID: "long", Domain: "recruit", FileName: "a.pkl"}); err != nil {
		t.Fatal(err)
	}
	d := next(t, jobs(t, q, "w1"))
	d.Start(ctx)
	if d.CancelRequested() {
		t.Fatal("cancel requested before anyone asked")
	}
	// The subscription may not be live yet: announce until heard.
	var res queue.CancelResult
	waitFor(t, "the cancel announced", func() bool {
		var err error
		if res, err = q.CancelJob(ctx, "long"); err != nil {
			t.Fatal(err)
		}
		select {
		case id := <-heard:
			return id == "long"
		case <-time.After(50 * time.Millisecond):
			return false
		}
	})
	if res.State != queue.StateRunning || !res.Canceling {
		t.Fatalf("CancelJob on a running job = %+v; want running, canceling", res)
	}
	d.Progress(ctx, queue.Progress{RecordsTotal: 10, RecordsSent: 3, Phase: queue.PhaseStreaming})
	if !d.CancelRequested() {
		t.Fatal("the delivery did not see the cancel request in the record")
	}
	if err := d.Cancel(ctx, queue.Progress{RecordsTotal: 10, RecordsSent: 3}); err != nil {
		t.Fatal(err)
	}
	st, err := q.GetStatus(ctx, "long")
	if err != nil || st.State != queue.StateCanceled || st.Phase != "" || len(st.History) != 1 || st.History[0].Outcome != queue.OutcomeCanceled {
		t.Fatalf("status after cancel: %+v, %v", st, err)
	}
	if n := streamMsgs(t, q, queue.DefaultStream); n != 0 {
		t.Fatalf("%d jobs left in the work queue", n)
	}
	if n, err := q.DeadLetterCount(ctx); err != nil || n != 0 {
		t.Fatalf("%d dead letters (%v), want none", n, err)
	}
	stopWatch()
	if err := <-watched; err != nil {
		t.Fatal(err)
	}
}

// A job fetched by a worker but canceled before the worker wrote its
// start: the start leaves the canceled record alone and the delivery knows
// it is canceled.
func TestCancelSeenAtStart(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	if _, err := q.Enqueue(ctx, queue.Job{ID: "early", Domain: "recruit", FileName: "a.pkl"}); err != nil {
		t.Fatal(err)
	}
	d := next(t, jobs(t, q, "w1"))
	if res, err := q.CancelJob(ctx, "early"); err != nil || res.State != queue.StateCanceled {
		t.Fatalf("CancelJob = %+v, %v", res, err)
	}
	d.Start(ctx)
	if !d.CancelRequested() {
		t.Fatal("the start did not see the cancel")
	}
	if st, _ := q.GetStatus(ctx, "early"); st.State != queue.StateCanceled {
		t.Fatalf("state %s after the start, want canceled", st.State)
	}
	if err := d.Cancel(ctx, queue.Progress{}); err != nil {
		t.Fatal(err)
	}
}

func TestWorkerHeartbeats(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	if ws, err := q.ListWorkers(ctx); err != nil || len(ws) != 0 {
		t.Fatalf("ListWorkers on a fresh queue = %+v, %v", ws, err)
	}
	start := time.Now().UTC()
	for _, name := range []string{"w.2:b", "w1"} {
		if err := q.PutWorker(ctx, queue.WorkerInfo{Name: name, Concurrency: 2, StartedAt: start,
			Jobs: []queue.WorkerJob{{JobID: "j-" + name, Domain: "recruit", Attempt: 1, Phase: queue.PhaseStreaming}}}); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := q.ListWorkers(ctx)
	if err != nil || len(ws) != 2 || ws[0].Name != "w.2:b" || ws[1].Name != "w1" || ws[1].Jobs[0].JobID != "j-w1" || ws[0].HeartbeatAt.IsZero() {
		t.Fatalf("ListWorkers = %+v, %v", ws, err)
	}
	if err := q.DeleteWorker(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	if ws, err := q.ListWorkers(ctx); err != nil || len(ws) != 1 || ws[0].Name != "w.2:b" {
		t.Fatalf("after w1 left: %+v, %v", ws, err)
	}
}

func TestQueueInfo(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	for i, dom := range []string{"recruit", "recruit", "recruit", "candidate", "candidate"} {
		if _, err := q.Enqueue(ctx, queue.Job{Domain: dom, FileName: "f.pkl", ID: fmt.Sprintf("%s-%d", dom, i)}); err != nil {
			t.Fatal(err)
		}
	}
	c := jobs(t, q, "w1")
	failOnce(t, q, c) // a recruit job, now a dead letter
	d := next(t, c)   // running: ack pending
	info, err := q.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Stream.Messages != 4 || info.Stream.Domains["recruit"] != 2 || info.Stream.Domains["candidate"] != 2 {
		t.Errorf("stream figures %+v; want 4 jobs: 2 recruit, 2 candidate", info.Stream)
	}
	if info.Consumer.Pending != 3 || info.Consumer.AckPending != 1 || info.Consumer.MaxDeliver != queue.DefaultMaxDeliver {
		t.Errorf("consumer figures %+v; want 3 pending, 1 ack pending", info.Consumer)
	}
	if info.DeadLetters.Messages != 1 || info.DeadLetters.Domains["recruit"] != 1 {
		t.Errorf("dead-letter figures %+v; want 1 recruit", info.DeadLetters)
	}
	if _, err := d.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWatchStatusEvents(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	if _, err := q.Enqueue(ctx, queue.Job{ID: "old", Domain: "recruit", FileName: "a.pkl"}); err != nil {
		t.Fatal(err)
	}
	events, err := q.WatchStatusEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ev := <-events
	if ev.Key != "old" || ev.Status.JobID != "old" || ev.Deleted || ev.Revision == 0 || ev.Written.IsZero() {
		t.Fatalf("first event %+v", ev)
	}
	if ev := <-events; !ev.Synced {
		t.Fatalf("second event %+v, want synced", ev)
	}
	if _, err := q.Enqueue(ctx, queue.Job{ID: "new.1", Domain: "recruit", FileName: "b.pkl"}); err != nil {
		t.Fatal(err)
	}
	ev = <-events
	if ev.Key != queue.StatusKey("new.1") || ev.Status.JobID != "new.1" || ev.Status.State != queue.StateQueued {
		t.Fatalf("live event %+v", ev)
	}
	info, err := q.StatusBucket(ctx)
	if err != nil || info.Values != 2 || info.LastRevision != ev.Revision || info.TTL != time.Hour {
		t.Fatalf("StatusBucket = %+v, %v; want 2 values, last revision %d, TTL 1h", info, err, ev.Revision)
	}
}

// Bulk replay and purge of dead letters by domain, class and time.
func TestBulkDeadLetters(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	base := time.Now().UTC().Add(-time.Hour)
	add := func(id, dom, class string, at time.Time) {
		t.Helper()
		err := q.PublishDeadLetter(ctx, queue.DeadLetter{JobID: id, Domain: dom, Subject: queue.SubjectPrefix + dom,
			Job: []byte(`{"file_name":"` + id + `.pkl"}`), Error: queue.JobError{Class: class, Permanent: true},
			Attempts: 3, Reason: queue.ReasonPermanent, FailedAt: at, StreamSeq: uint64(at.UnixNano())})
		if err != nil {
			t.Fatal(err)
		}
	}
	add("r1", "recruit", "file_not_found", base)
	add("r2", "recruit", "validation", base.Add(10*time.Minute))
	add("r3", "recruit", "file_not_found", base.Add(20*time.Minute))
	add("c1", "candidate", "file_not_found", base.Add(30*time.Minute))
	add("c2", "candidate", "bad_pickle", base.Add(40*time.Minute))
	add("c2", "candidate", "bad_pickle", base.Add(41*time.Minute)) // a second dead letter of the same job

	// Replay recruit's file_not_found after base+5m: r3 only.
	res, err := q.ReplayDeadLetters(ctx, queue.DeadLetterFilter{Domain: "recruit", Class: "file_not_found", Since: base.Add(5 * time.Minute)})
	if err != nil || res.Matched != 1 || res.Done != 1 || len(res.Failed) != 0 {
		t.Fatalf("replay = %+v, %v; want r3", res, err)
	}
	// Replay every bad_pickle: c2 once, from both its dead letters.
	res, err = q.ReplayDeadLetters(ctx, queue.DeadLetterFilter{Class: "bad_pickle"})
	if err != nil || res.Matched != 2 || res.Done != 2 {
		t.Fatalf("replay bad_pickle = %+v, %v", res, err)
	}
	if n := streamMsgs(t, q, queue.DefaultStream); n != 2 {
		t.Fatalf("%d jobs queued by the replays, want 2 (r3, c2 once)", n)
	}
	c := jobs(t, q, "w1")
	var replayed []string
	for range 2 {
		d := next(t, c)
		job, _ := d.Job()
		replayed = append(replayed, job.ID)
		if d.Attempt() != 4 {
			t.Errorf("replayed %s at attempt %d, want 4 (3 before)", job.ID, d.Attempt())
		}
		if err := d.Succeed(ctx, queue.Progress{}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(replayed)
	if !slices.Equal(replayed, []string{"c2", "r3"}) {
		t.Fatalf("replayed %v", replayed)
	}
	// Purge before base+25m whatever the domain: r1, r2.
	res, err = q.PurgeDeadLetters(ctx, queue.DeadLetterFilter{Until: base.Add(25 * time.Minute)})
	if err != nil || res.Matched != 2 || res.Done != 2 {
		t.Fatalf("purge until = %+v, %v", res, err)
	}
	// Purge candidate by subject: c1.
	res, err = q.PurgeDeadLetters(ctx, queue.DeadLetterFilter{Domain: "candidate"})
	if err != nil || res.Matched != 1 || res.Done != 1 {
		t.Fatalf("purge candidate = %+v, %v", res, err)
	}
	if n, err := q.DeadLetterCount(ctx); err != nil || n != 0 {
		t.Fatalf("%d dead letters left (%v)", n, err)
	}
}

// The info reads share no handle state with each other or with status
// reads: jetstream caches a stream's info in its handle without a lock,
// and kv.Status on the shared bucket raced with GetStatus and with itself
// (found by `go test -race` on the dashboard's concurrent requests). Run
// with -race (deploy/test does for this test); without it, it checks the
// figures every concurrent reader gets.
func TestConcurrentInfoReads(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	const jobs = 5
	var ids []string
	for i := range jobs {
		res, err := q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: fmt.Sprintf("c%d.pkl", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.JobID)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 4 {
		wg.Go(func() {
			for range 5 {
				if b, err := q.StatusBucket(ctx); err != nil || b.Values != jobs || b.TTL != time.Hour || b.LastRevision == 0 {
					errs <- fmt.Errorf("StatusBucket = %+v, %v", b, err)
				}
				if err := q.Ready(ctx); err != nil {
					errs <- fmt.Errorf("Ready: %w", err)
				}
				if n, err := q.DeadLetterCount(ctx); err != nil || n != 0 {
					errs <- fmt.Errorf("DeadLetterCount = %d, %v", n, err)
				}
				if qi, err := q.Info(ctx); err != nil || qi.Stream.Messages != jobs || qi.Consumer.Pending != jobs {
					errs <- fmt.Errorf("Info = %+v, %v", qi, err)
				}
				for _, id := range ids {
					if st, err := q.GetStatus(ctx, id); err != nil || st.State != queue.StateQueued {
						errs <- fmt.Errorf("GetStatus(%s) = %+v, %v", id, st, err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
