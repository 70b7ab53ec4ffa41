package queue_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// next fetches the next delivery from c, failing the test if none comes.
func next(t *testing.T, c *queue.Consumer) *queue.Delivery {
	t.Helper()
	d, err := c.Next(10 * time.Second)
	if err != nil {
		t.Fatalf("fetch job: %v", err)
	}
	return d
}

// jobs binds the job consumer on q as worker.
func jobs(t *testing.T, q *queue.Queue, worker string) *queue.Consumer {
	t.Helper()
	c, err := q.Jobs(testCtx(t), worker)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var transient = queue.JobError{Class: "server_unavailable", Message: "batch server unavailable"}

// handedOff brings job id, on a consumer with MaxDeliver 2, through three
// attempts: attempt 1 retried; attempt 2, the message's last delivery, cut
// off by shutdown and handed off; attempt 3, the copy's first delivery,
// retried. The copy's second and last delivery (attempt 4) is next.
func handedOff(t *testing.T, q *queue.Queue, c *queue.Consumer, id string) {
	t.Helper()
	ctx := testCtx(t)
	res, err := q.Enqueue(ctx, queue.Job{ID: id, Domain: "recruit", FileName: "a.pkl"})
	if err != nil {
		t.Fatal(err)
	}
	d := next(t, c)
	d.Start(ctx)
	if err := d.Retry(ctx, queue.Progress{}, transient, 0); err != nil {
		t.Fatal(err)
	}
	d = next(t, c)
	if d.NumDelivered() != 2 || d.Attempt() != 2 || !d.Last() {
		t.Fatalf("second delivery: delivered %d, attempt %d, last %v", d.NumDelivered(), d.Attempt(), d.Last())
	}
	d.Start(ctx)
	h, err := d.HandBack(ctx, queue.Progress{RecordsTotal: 10, RecordsSent: 4}, queue.JobError{Class: "shutdown", Message: "worker shutting down"})
	if err != nil || !h.Republished || h.PublishErr != nil || h.Seq == res.Seq {
		t.Fatalf("HandBack on the last delivery = %+v, %v; want the job republished", h, err)
	}
	d = next(t, c)
	if job, err := d.Job(); err != nil || job.ID != id || d.StreamSeq() != h.Seq || d.NumDelivered() != 1 || d.Attempt() != 3 || d.Last() {
		t.Fatalf("handed-off copy: %+v, %v at %d: delivered %d, attempt %d; want attempt 3 of %s at %d",
			job, err, d.StreamSeq(), d.NumDelivered(), d.Attempt(), id, h.Seq)
	}
	d.Start(ctx)
	if err := d.Retry(ctx, queue.Progress{}, transient, 0); err != nil {
		t.Fatal(err)
	}
}

// lastOfCopy fetches the handed-off copy's last delivery, attempt 4.
func lastOfCopy(t *testing.T, c *queue.Consumer) *queue.Delivery {
	t.Helper()
	d := next(t, c)
	if d.NumDelivered() != 2 || d.Attempt() != 4 || !d.Last() {
		t.Fatalf("copy's last delivery: delivered %d, attempt %d, last %v", d.NumDelivered(), d.Attempt(), d.Last())
	}
	return d
}

// TestDeadLetterAttemptsAgreeAcrossPaths: a handed-off job that then
// exhausts its deliveries gets the same attempts in its dead letter and
// its status whether its worker dead-letters it (the last delivery
// failed) or the MAX_DELIVERIES advisory does (the worker crashed): the
// attempts before the handoff plus the copy's deliveries.
func TestDeadLetterAttemptsAgreeAcrossPaths(t *testing.T) {
	t.Parallel()
	const want = 4
	check := func(t *testing.T, q *queue.Queue, id, reason string) {
		t.Helper()
		ctx := testCtx(t)
		dl, err := q.GetDeadLetter(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		st, err := q.GetStatus(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if dl.Attempts != want || dl.Reason != reason || dl.Domain != "recruit" || dl.JobID != id {
			t.Errorf("dead letter %+v; want %d attempts, reason %s, domain recruit", dl, want, reason)
		}
		if st.Attempts != dl.Attempts || st.State != queue.StateFailed {
			t.Errorf("status: %s after %d attempts; want failed after %d, as the dead letter says", st.State, st.Attempts, dl.Attempts)
		}
		if n := streamMsgs(t, q, queue.DefaultStream); n != 0 {
			t.Errorf("%d messages left in the job stream", n)
		}
	}
	open := func(t *testing.T) (*queuetest.Server, queue.Config, *queue.Queue) {
		s := queuetest.StartServer(t)
		cfg := queuetest.Config()
		cfg.MaxDeliver = 2
		return s, cfg, queuetest.OpenQueue(t, s, cfg)
	}

	t.Run("worker", func(t *testing.T) {
		t.Parallel()
		_, _, q := open(t)
		ctx := testCtx(t)
		c := jobs(t, q, "w1")
		handedOff(t, q, c, "h-worker")
		d := lastOfCopy(t, c)
		d.Start(ctx)
		if err := d.DeadLetter(ctx, transient, queue.ReasonRetries); err != nil {
			t.Fatal(err)
		}
		if err := d.Fail(ctx, queue.Progress{}, transient, queue.ReasonRetries); err != nil {
			t.Fatal(err)
		}
		check(t, q, "h-worker", queue.ReasonRetries)
		st, err := q.GetStatus(ctx, "h-worker")
		if err != nil {
			t.Fatal(err)
		}
		var outcomes []string
		for _, a := range st.History {
			outcomes = append(outcomes, strconv.Itoa(a.Attempt)+" "+a.Outcome)
		}
		if got := fmt.Sprint(outcomes); got != "[1 retrying 2 shutdown 3 retrying 4 failed]" {
			t.Errorf("history %s", got)
		}
	})

	t.Run("advisory", func(t *testing.T) {
		t.Parallel()
		s, cfg, q := open(t)
		ctx := testCtx(t)
		c := jobs(t, q, "w1")
		handedOff(t, q, c, "h-advisory")
		// The last delivery's worker crashes before it writes anything.
		// The deliveries so far were settled under AckWait 30s; a worker
		// opening the queue with AckWait 1s now lets this one run out
		// quickly.
		d := lastOfCopy(t, c)
		cfg.AckWait = time.Second
		queuetest.OpenQueue(t, s, cfg)
		// A live worker keeps pulling: JetStream notices deliveries that
		// ran out (MaxDeliver > 1) when it looks for one to redeliver.
		pullCtx, stopPulling := context.WithCancel(ctx)
		defer stopPulling()
		pulled := make(chan error, 1)
		go func() {
			for pullCtx.Err() == nil {
				if d, err := c.Next(200 * time.Millisecond); !errors.Is(err, queue.ErrNoJob) {
					pulled <- fmt.Errorf("the live worker pulled %v, %v; want no job", d, err)
					return
				}
			}
			pulled <- nil
		}()

		handled := make(chan int, 4)
		watchCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- q.WatchMaxDeliveries(watchCtx, func(ctx context.Context, seq uint64, deliveries int) error {
				if seq != d.StreamSeq() {
					return fmt.Errorf("advisory for sequence %d, want %d", seq, d.StreamSeq())
				}
				err := q.DeadLetterBySeq(ctx, seq, deliveries, queue.JobError{Class: "max_deliveries", Permanent: true}, "sweeper")
				if err == nil {
					handled <- deliveries
				}
				return err
			})
		}()
		select {
		case n := <-handled:
			if n != 2 {
				t.Errorf("advisory says %d deliveries, want 2", n)
			}
		case <-ctx.Done():
			t.Fatal("no MAX_DELIVERIES advisory handled")
		}
		stop()
		if err := <-done; err != nil {
			t.Fatalf("WatchMaxDeliveries: %v", err)
		}
		stopPulling()
		if err := <-pulled; err != nil {
			t.Fatal(err)
		}
		check(t, q, "h-advisory", queue.ReasonMaxDeliveries)
	})
}

// TestDeliveryGuards: a stale delivery never overwrites a later attempt's
// record or a success, writes no progress into another delivery's record,
// and sees that it is superseded; a success is always written; a delivery
// settles once, and is terminated only after its dead letter is stored.
func TestDeliveryGuards(t *testing.T) {
	t.Parallel()
	s, q, ctx := setup(t)
	// Three messages of one job, the later ones as a handoff publishes
	// them (attempts 2 and 6), all delivered at once.
	js := queuetest.JetStream(t, s)
	for i, before := range []string{"", "1", "5"} {
		msg := nats.NewMsg("ingest.jobs.recruit")
		msg.Data = []byte(`{"file_name":"a.pkl"}`)
		msg.Header.Set(queue.HeaderJobID, "g1")
		msg.Header.Set(queue.HeaderMsgID, fmt.Sprint("g1:", i))
		if before != "" {
			msg.Header.Set(queue.HeaderAttemptsBefore, before)
		}
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	stale, later, newest := next(t, jobs(t, q, "wA")), next(t, jobs(t, q, "wB")), next(t, jobs(t, q, "wC"))
	if stale.Attempt() != 1 || later.Attempt() != 2 || newest.Attempt() != 6 || stale.Worker() != "wA" || later.Worker() != "wB" {
		t.Fatalf("attempts %d by %s, %d by %s, %d; want 1 by wA, 2 by wB, 6", stale.Attempt(), stale.Worker(), later.Attempt(), later.Worker(), newest.Attempt())
	}
	status := func() queue.Status {
		t.Helper()
		st, err := q.GetStatus(ctx, "g1")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	stale.Start(ctx)
	later.Start(ctx)
	stale.Progress(ctx, queue.Progress{RecordsSent: 7})
	later.Progress(ctx, queue.Progress{RecordsTotal: 9, RecordsSent: 5})
	if st := status(); st.State != queue.StateRunning || st.Attempts != 2 || st.Worker != "wB" || st.RecordsSent != 5 || st.RecordsTotal != 9 ||
		!st.StartedAt.Equal(later.Received()) {
		t.Fatalf("status %+v, want attempt 2 running on wB since %s with 5 of 9 records sent", st, later.Received())
	}
	if !stale.Superseded(ctx) || later.Superseded(ctx) {
		t.Fatalf("Superseded: stale %v, later %v; want true, false", stale.Superseded(ctx), later.Superseded(ctx))
	}
	if err := stale.Fail(ctx, queue.Progress{}, transient, queue.ReasonRetries); !errors.Is(err, queue.ErrNotDeadLettered) {
		t.Fatalf("Fail before DeadLetter = %v, want ErrNotDeadLettered", err)
	}
	// The stale delivery's retry is not recorded: attempt 2 runs.
	if err := stale.Retry(ctx, queue.Progress{}, transient, time.Hour); err != nil {
		t.Fatal(err)
	}
	if st := status(); st.State != queue.StateRunning || st.Attempts != 2 || len(st.History) != 0 {
		t.Fatalf("status after the stale retry %+v, want attempt 2 still running", st)
	}
	if err := stale.Succeed(ctx, queue.Progress{}); !errors.Is(err, queue.ErrSettled) {
		t.Fatalf("Succeed after Retry = %v, want ErrSettled", err)
	}
	if err := stale.DeadLetter(ctx, transient, queue.ReasonRetries); !errors.Is(err, queue.ErrSettled) {
		t.Fatalf("DeadLetter after Retry = %v, want ErrSettled", err)
	}
	if _, err := stale.Release(ctx); !errors.Is(err, queue.ErrSettled) {
		t.Fatalf("Release after Retry = %v, want ErrSettled", err)
	}

	// Attempt 6 starts; attempt 2 succeeds after all: its success is
	// written, keeping the highest attempt seen.
	newest.Start(ctx)
	if err := later.Succeed(ctx, queue.Progress{RecordsTotal: 9, RecordsSent: 9, ChunksSent: 2, BytesSent: 100}); err != nil {
		t.Fatal(err)
	}
	st := status()
	if st.State != queue.StateSucceeded || st.Attempts != 6 || st.RecordsSent != 9 || st.ChunksSent != 2 || st.BytesSent != 100 ||
		st.FinishedAt.IsZero() || st.Error != nil || len(st.History) != 1 || st.History[0].Outcome != queue.OutcomeSucceeded ||
		st.History[0].Attempt != 2 || st.History[0].Worker != "wB" {
		t.Fatalf("status after the success %+v", st)
	}
	// Nothing overwrites the success: not attempt 6's progress, nor its
	// failure.
	newest.Progress(ctx, queue.Progress{RecordsSent: 1})
	if _, err := newest.HandBack(ctx, queue.Progress{}, queue.JobError{Class: "shutdown"}); err != nil {
		t.Fatal(err)
	}
	if got := status(); got.State != queue.StateSucceeded || got.RecordsSent != 9 || len(got.History) != 1 || got.Revision != st.Revision {
		t.Fatalf("status after the success was overwritten: %+v", got)
	}
}

// TestReleaseOnLastDeliveryHandsOff: a delivery fetched while its worker
// stops goes back without a status write: Nak'd before the last delivery,
// republished (then terminated) on it, with the job's id, a handoff
// Nats-Msg-Id and the attempts made so far.
func TestReleaseOnLastDeliveryHandsOff(t *testing.T) {
	t.Parallel()
	s := queuetest.StartServer(t)
	cfg := queuetest.Config()
	cfg.MaxDeliver = 2
	q := queuetest.OpenQueue(t, s, cfg)
	ctx := testCtx(t)
	res, err := q.Enqueue(ctx, queue.Job{ID: "r1", Domain: "recruit", FileName: "a.pkl"})
	if err != nil {
		t.Fatal(err)
	}
	c := jobs(t, q, "w1")
	if h, err := next(t, c).Release(ctx); err != nil || h != (queue.Handoff{}) {
		t.Fatalf("Release before the last delivery = %+v, %v; want a plain Nak", h, err)
	}
	d := next(t, c)
	h, err := d.Release(ctx)
	if err != nil || !h.Republished || h.Duplicate || h.PublishErr != nil {
		t.Fatalf("Release on the last delivery = %+v, %v", h, err)
	}
	if st, err := q.GetStatus(ctx, "r1"); err != nil || st.State != queue.StateQueued || st.Attempts != 0 {
		t.Fatalf("status %+v, %v; want it untouched (queued)", st, err)
	}
	raw, err := queuetest.JetStream(t, s).Stream(ctx, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := raw.GetMsg(ctx, h.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cp.Header.Get(queue.HeaderMsgID), fmt.Sprintf("r1:handoff:%d:2", res.Seq); got != want ||
		cp.Header.Get(queue.HeaderJobID) != "r1" || cp.Header.Get(queue.HeaderAttemptsBefore) != "2" || cp.Subject != "ingest.jobs.recruit" {
		t.Fatalf("handoff copy headers %v on %s; want Nats-Msg-Id %s", cp.Header, cp.Subject, want)
	}
	if n := streamMsgs(t, q, cfg.Stream); n != 1 {
		t.Fatalf("job stream holds %d messages, want the copy alone", n)
	}
	d = next(t, c)
	if job, err := d.Job(); err != nil || job.ID != "r1" || d.Attempt() != 3 || d.StreamSeq() != h.Seq {
		t.Fatalf("copy delivered as %+v, %v, attempt %d", job, err, d.Attempt())
	}
	if err := d.Succeed(ctx, queue.Progress{}); err != nil {
		t.Fatal(err)
	}
}

func TestConsumerNext(t *testing.T) {
	t.Parallel()
	s, q, ctx := setup(t)
	c := jobs(t, q, "w1")
	if _, err := c.Next(50 * time.Millisecond); !errors.Is(err, queue.ErrNoJob) {
		t.Fatalf("Next on an empty queue = %v, want ErrNoJob", err)
	}
	if _, err := q.Enqueue(ctx, queue.Job{ID: "n1", Domain: "recruit", FileName: "a.pkl"}); err != nil {
		t.Fatal(err)
	}
	d := next(t, c)
	cs, err := q.ConsumerStats(ctx)
	if err != nil || cs.InFlight != 1 || cs.Pending != 0 {
		t.Fatalf("ConsumerStats = %+v, %v; want 1 in flight", cs, err)
	}
	if job, err := d.Job(); err != nil || job.EnqueuedAt.IsZero() || d.Timestamp().IsZero() || d.Subject() != "ingest.jobs.recruit" {
		t.Fatalf("delivery of %+v, %v on %s at %s", job, err, d.Subject(), d.Timestamp())
	}
	if err := d.ExtendLease(ctx); err != nil {
		t.Fatalf("ExtendLease of a pending delivery: %v", err)
	}
	if err := d.Succeed(ctx, queue.Progress{}); err != nil {
		t.Fatal(err)
	}
	// The consumer is deleted under a waiting pull.
	pulled := make(chan error, 1)
	go func() {
		_, err := c.Next(30 * time.Second)
		pulled <- err
	}()
	polltest.Until(t, 20*time.Second, "a pull request waiting", func() bool {
		cs, err := q.ConsumerStats(ctx)
		return err == nil && cs.Waiting > 0
	})
	if err := queuetest.JetStream(t, s).DeleteConsumer(ctx, queue.DefaultStream, queue.ConsumerName); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-pulled:
		if !errors.Is(err, queue.ErrNoConsumer) {
			t.Fatalf("Next while its consumer is deleted = %v, want ErrNoConsumer", err)
		}
	case <-ctx.Done():
		t.Fatal("Next did not return when its consumer was deleted")
	}
	// Deleted before the pull: nothing answers it, and JetStream says why.
	if _, err := c.Next(time.Second); !errors.Is(err, queue.ErrNoConsumer) {
		t.Fatalf("Next after its consumer was deleted = %v, want ErrNoConsumer", err)
	}
	if _, err := q.Jobs(ctx, "w1"); err == nil {
		t.Fatal("Jobs binds a deleted consumer")
	}
}
