package queue_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// fetchOne takes the next job from the workers' consumer, as worker w1.
func fetchOne(t *testing.T, q *queue.Queue) *queue.Delivery {
	t.Helper()
	c, err := q.Jobs(testCtx(t), "w1")
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Next(10 * time.Second)
	if err != nil {
		t.Fatalf("fetch job: %v", err)
	}
	return d
}

// deadLetter plays a worker meeting a permanent error: dead letter first,
// Term after.
func deadLetter(t *testing.T, d *queue.Delivery) queue.Job {
	t.Helper()
	ctx := testCtx(t)
	job, err := d.Job()
	if err != nil {
		t.Fatal(err)
	}
	jobErr := queue.JobError{Class: "file_not_found", Message: "missing.pkl: no such file", Permanent: true}
	if err := d.DeadLetter(ctx, jobErr, queue.ReasonPermanent); err != nil {
		t.Fatal(err)
	}
	// A second worker racing on the same delivery stores nothing more.
	if err := d.DeadLetter(ctx, jobErr, queue.ReasonPermanent); err != nil {
		t.Fatal(err)
	}
	if err := d.Fail(ctx, queue.Progress{}, jobErr, queue.ReasonPermanent); err != nil {
		t.Fatal(err)
	}
	return job
}

func TestDeadLetterListReplayDelete(t *testing.T) {
	t.Parallel()
	s, q, ctx := setup(t)

	if _, err := q.Enqueue(ctx, queue.Job{ID: "r:1", Domain: "recruit", FileName: "missing.pkl"}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, queue.Job{ID: "c1", Domain: "candidate", FileName: "missing.pkl"}); err != nil {
		t.Fatal(err)
	}
	deadLetter(t, fetchOne(t, q))
	deadLetter(t, fetchOne(t, q))
	// A job published without any id, by a plain NATS client.
	if _, err := queuetest.JetStream(t, s).Publish(ctx, "ingest.jobs.recruit", []byte(`{"file_name":"raw.pkl"}`)); err != nil {
		t.Fatal(err)
	}
	raw := deadLetter(t, fetchOne(t, q))

	all, err := q.ListDeadLetters(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].JobID != raw.ID || all[1].JobID != "c1" || all[2].JobID != "r:1" {
		t.Fatalf("ListDeadLetters = %+v, want 3 newest first", all)
	}
	for _, dl := range all {
		if dl.DLQSeq == 0 || dl.Error.Class != "file_not_found" || dl.Reason != queue.ReasonPermanent || len(dl.Job) == 0 ||
			dl.Attempts != 1 || dl.Worker != "w1" || dl.StreamSeq == 0 {
			t.Fatalf("dead letter %+v", dl)
		}
	}
	rec, err := q.ListDeadLetters(ctx, "recruit", 1)
	if err != nil || len(rec) != 1 || rec[0].JobID != raw.ID {
		t.Fatalf("ListDeadLetters(recruit, 1) = %+v, %v", rec, err)
	}
	if _, err := q.GetDeadLetter(ctx, "nope"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("GetDeadLetter(nope) = %v, want ErrNotFound", err)
	}

	// Replay the recruit job and the id-less one: same job ids, fresh
	// attempts, status back to queued with history kept, dead letters gone.
	for _, id := range []string{"r:1", raw.ID} {
		res, err := q.ReplayDeadLetter(ctx, id)
		if err != nil || res.JobID != id || res.Duplicate {
			t.Fatalf("ReplayDeadLetter(%s) = %+v, %v", id, res, err)
		}
		st, err := q.GetStatus(ctx, id)
		if err != nil || st.State != queue.StateQueued || st.Error != nil || len(st.History) != 1 {
			t.Fatalf("status after replay: %+v, %v", st, err)
		}
		d := fetchOne(t, q)
		job, err := d.Job()
		if err != nil || job.ID != id {
			t.Fatalf("replayed job = %+v, %v; want id %s", job, err, id)
		}
		if d.NumDelivered() != 1 || d.Attempt() != 2 {
			t.Fatalf("replayed job delivered %d times (attempt %d), want a fresh message carrying on at attempt 2", d.NumDelivered(), d.Attempt())
		}
		if err := d.Succeed(ctx, queue.Progress{}); err != nil {
			t.Fatal(err)
		}
		if _, err := q.GetDeadLetter(ctx, id); !errors.Is(err, queue.ErrNotFound) {
			t.Fatalf("dead letter of %s after replay: %v, want ErrNotFound", id, err)
		}
	}
	if _, err := q.ReplayDeadLetter(ctx, "r:1"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("second replay: %v, want ErrNotFound", err)
	}

	if err := q.DeleteDeadLetter(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := q.DeleteDeadLetter(ctx, "c1"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	if left, err := q.ListDeadLetters(ctx, "", 0); err != nil || len(left) != 0 {
		t.Fatalf("dead letters left: %+v, %v", left, err)
	}
}

func TestDeadLetterOfUnparsableJob(t *testing.T) {
	t.Parallel()
	s, q, ctx := setup(t)
	js := queuetest.JetStream(t, s)
	for subject, id := range map[string]string{"ingest.jobs.recruit": "bad-1", "ingest.jobs.a.b": "bad-2"} {
		msg := &nats.Msg{Subject: subject, Data: []byte("not json"), Header: nats.Header{}}
		msg.Header.Set(queue.HeaderMsgID, id)
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		d := fetchOne(t, q)
		job, perr := d.Job()
		if !errors.Is(perr, queue.ErrBadJob) {
			t.Fatalf("Job = %v, want ErrBadJob", perr)
		}
		// Still named, to report and dead-letter it.
		if want := strings.TrimPrefix(d.Subject(), queue.SubjectPrefix); job.Domain != want || (job.ID != "bad-1" && job.ID != "bad-2") {
			t.Fatalf("bad job named %q in domain %q, want bad-1 or bad-2 in %q", job.ID, job.Domain, want)
		}
		jerr := queue.JobError{Class: "bad_job", Message: perr.Error(), Permanent: true}
		if err := d.DeadLetter(ctx, jerr, queue.ReasonPermanent); err != nil {
			t.Fatal(err)
		}
		if err := d.Fail(ctx, queue.Progress{}, jerr, queue.ReasonPermanent); err != nil {
			t.Fatal(err)
		}
	}
	for id, domain := range map[string]string{"bad-1": "recruit", "bad-2": "unknown"} {
		dl, err := q.GetDeadLetter(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if string(dl.JobRaw) != "not json" || dl.Job != nil {
			t.Fatalf("dead letter keeps job %q raw %q", dl.Job, dl.JobRaw)
		}
		// A domain that is no subject token (a.b) maps to ingest.dlq.unknown.
		if dls, err := q.ListDeadLetters(ctx, domain, 0); err != nil || len(dls) != 1 || dls[0].JobID != id {
			t.Fatalf("%s's dead letter is not alone on %s: %+v, %v", id, queue.DLQSubject(domain), dls, err)
		}
	}
}

// TestMaxDeliveriesAdvisory: a job is fetched and never acknowledged by a
// worker that dies; with MaxDeliver 1 JetStream gives up, keeps the
// message and only publishes the MAX_DELIVERIES advisory. The advisory
// handler moves the job to the dead letters and out of the work queue.
func TestMaxDeliveriesAdvisory(t *testing.T) {
	t.Parallel()
	s := queuetest.StartServer(t)
	cfg := queuetest.Config()
	cfg.AckWait, cfg.MaxDeliver = time.Second, 1
	q := queuetest.OpenQueue(t, s, cfg)
	ctx := testCtx(t)
	if _, err := q.Enqueue(ctx, queue.Job{ID: "crashy", Domain: "recruit", FileName: "a.pkl"}); err != nil {
		t.Fatal(err)
	}
	d := fetchOne(t, q) // and never acked: the worker "crashed"

	handled := make(chan uint64, 4)
	watchCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- q.WatchMaxDeliveries(watchCtx, func(ctx context.Context, seq uint64, deliveries int) error {
			err := q.DeadLetterBySeq(ctx, seq, deliveries, queue.JobError{Class: "max_deliveries", Message: "deliveries ran out", Permanent: true}, "sweeper")
			if err == nil {
				handled <- seq
			}
			return err
		})
	}()
	select {
	case seq := <-handled:
		if seq != d.StreamSeq() {
			t.Fatalf("advisory for sequence %d, want %d", seq, d.StreamSeq())
		}
	case <-ctx.Done():
		t.Fatal("no MAX_DELIVERIES advisory handled")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("WatchMaxDeliveries: %v", err)
	}
	if n := streamMsgs(t, q, queue.DefaultStream); n != 0 {
		t.Fatalf("work queue still holds %d messages", n)
	}
	dl, err := q.GetDeadLetter(ctx, "crashy")
	if err != nil {
		t.Fatal(err)
	}
	if dl.Reason != queue.ReasonMaxDeliveries || dl.Attempts != 1 || dl.Worker != "sweeper" || dl.StreamSeq != d.StreamSeq() || dl.Domain != "recruit" {
		t.Fatalf("dead letter = %+v", dl)
	}
	st, err := q.GetStatus(ctx, "crashy")
	if err != nil || st.State != queue.StateFailed || st.Error == nil || st.Error.Class != "max_deliveries" {
		t.Fatalf("status = %+v, %v", st, err)
	}
	// Idempotent: the message is gone, a second call does nothing.
	if err := q.DeadLetterBySeq(ctx, d.StreamSeq(), 1, queue.JobError{}, "other"); err != nil {
		t.Fatal(err)
	}
	if dls, _ := q.ListDeadLetters(ctx, "", 0); len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
}

// TestDeadLetterBySeqSkipsSucceeded: a job whose last delivery succeeded but
// whose ack was lost is removed from the work queue, never dead-lettered.
func TestDeadLetterBySeqSkipsSucceeded(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	res, err := q.Enqueue(ctx, queue.Job{ID: "done-1", Domain: "recruit", FileName: "a.pkl"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.UpdateStatus(ctx, "done-1", func(s *queue.Status) error { s.State = queue.StateSucceeded; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := q.DeadLetterBySeq(ctx, res.Seq, 0, queue.JobError{Class: "max_deliveries"}, "sweeper"); err != nil {
		t.Fatal(err)
	}
	if dls, err := q.ListDeadLetters(ctx, "", 0); err != nil || len(dls) != 0 {
		t.Fatalf("dead letters = %+v, %v; want none", dls, err)
	}
	if n := streamMsgs(t, q, queue.DefaultStream); n != 0 {
		t.Fatalf("work queue still holds %d messages", n)
	}
	if st, err := q.GetStatus(ctx, "done-1"); err != nil || st.State != queue.StateSucceeded {
		t.Fatalf("status = %+v, %v; want succeeded", st, err)
	}
}

// Looking a dead letter up by job id reads only the job's domain and
// ingest.dlq.unknown when its status names the domain; both are found.
func TestGetDeadLetterByDomain(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	for i, dl := range []queue.DeadLetter{
		{JobID: "j-known", Domain: "recruit", Reason: queue.ReasonPermanent, StreamSeq: 1},
		{JobID: "j-other", Domain: "candidate", Reason: queue.ReasonPermanent, StreamSeq: 2},
		{JobID: "j-unparsed", Reason: queue.ReasonPermanent, StreamSeq: 3}, // on ingest.dlq.unknown
	} {
		if _, err := q.UpdateStatus(ctx, dl.JobID, func(s *queue.Status) error { s.Domain, s.State = "recruit", queue.StateFailed; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := q.PublishDeadLetter(ctx, dl); err != nil {
			t.Fatalf("dead letter %d: %v", i, err)
		}
	}
	for _, id := range []string{"j-known", "j-unparsed"} {
		if dl, err := q.GetDeadLetter(ctx, id); err != nil || dl.JobID != id {
			t.Fatalf("GetDeadLetter(%s) = %+v, %v", id, dl, err)
		}
	}
	if err := q.DeleteDeadLetter(ctx, "j-unparsed"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.GetDeadLetter(ctx, "j-unparsed"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("after delete: %v, want ErrNotFound", err)
	}
}
