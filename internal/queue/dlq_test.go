package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// fetchOne takes the next job from the workers' consumer.
func fetchOne(t *testing.T, q *queue.Queue) jetstream.Msg {
	t.Helper()
	c, err := q.Consumer(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("fetch job: %v", err)
	}
	return msg
}

// deadLetter plays a worker meeting a permanent error: dead letter first,
// Term after.
func deadLetter(t *testing.T, q *queue.Queue, msg jetstream.Msg) queue.Job {
	t.Helper()
	ctx := testCtx(t)
	job, err := queue.ParseMsg(msg)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := msg.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	jobErr := queue.JobError{Class: "file_not_found", Message: "missing.pkl: no such file", Permanent: true}
	dl := queue.DeadLetter{
		JobID: job.ID, Domain: job.Domain, Subject: msg.Subject(), Job: msg.Data(), Error: jobErr,
		Attempts: int(meta.NumDelivered), Worker: "w1", Reason: queue.ReasonPermanent, StreamSeq: meta.Sequence.Stream,
	}
	if err := q.PublishDeadLetter(ctx, dl); err != nil {
		t.Fatal(err)
	}
	// A second worker racing on the same delivery stores nothing more.
	if err := q.PublishDeadLetter(ctx, dl); err != nil {
		t.Fatal(err)
	}
	if err := msg.TermWithReason("file_not_found"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.UpdateStatus(ctx, job.ID, func(s *queue.Status) error {
		s.State, s.Error, s.Attempts = queue.StateFailed, &jobErr, 1
		s.History = append(s.History, queue.Attempt{Attempt: 1, Outcome: queue.StateFailed, Error: &jobErr})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return job
}

func TestDeadLetterListReplayDelete(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)

	if _, err := q.Enqueue(ctx, queue.Job{ID: "r:1", Domain: "recruit", FileName: "missing.pkl"}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, queue.Job{ID: "c1", Domain: "candidate", FileName: "missing.pkl"}); err != nil {
		t.Fatal(err)
	}
	deadLetter(t, q, fetchOne(t, q))
	deadLetter(t, q, fetchOne(t, q))
	// A job published without any id, by a plain NATS client.
	if _, err := q.JetStream().Publish(ctx, "ingest.jobs.recruit", []byte(`{"file_name":"raw.pkl"}`)); err != nil {
		t.Fatal(err)
	}
	raw := deadLetter(t, q, fetchOne(t, q))

	all, err := q.ListDeadLetters(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].JobID != raw.ID || all[1].JobID != "c1" || all[2].JobID != "r:1" {
		t.Fatalf("ListDeadLetters = %+v, want 3 newest first", all)
	}
	for _, dl := range all {
		if dl.DLQSeq == 0 || dl.Error.Class != "file_not_found" || dl.Reason != queue.ReasonPermanent || len(dl.Job) == 0 {
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
		msg := fetchOne(t, q)
		job, err := queue.ParseMsg(msg)
		if err != nil || job.ID != id {
			t.Fatalf("replayed job = %+v, %v; want id %s", job, err, id)
		}
		if meta, _ := msg.Metadata(); meta.NumDelivered != 1 {
			t.Fatalf("replayed job delivered %d times, want a fresh message", meta.NumDelivered)
		}
		if err := msg.DoubleAck(ctx); err != nil {
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
	_, q, ctx := setup(t)
	msg := &nats.Msg{Subject: "ingest.jobs.recruit", Data: []byte("not json"), Header: nats.Header{}}
	msg.Header.Set(queue.HeaderMsgID, "bad-1")
	if _, err := q.JetStream().PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	m := fetchOne(t, q)
	_, perr := queue.ParseMsg(m)
	if !errors.Is(perr, queue.ErrBadJob) {
		t.Fatalf("ParseMsg = %v, want ErrBadJob", perr)
	}
	meta, _ := m.Metadata()
	id := queue.JobIDFromMsg(m.Headers(), m.Data(), meta.Sequence.Stream, meta.Timestamp)
	err := q.PublishDeadLetter(ctx, queue.DeadLetter{
		JobID: id, Subject: m.Subject(), Job: m.Data(), StreamSeq: meta.Sequence.Stream,
		Error: queue.JobError{Class: "bad_job", Message: perr.Error(), Permanent: true}, Reason: queue.ReasonPermanent,
	})
	if err != nil {
		t.Fatal(err)
	}
	dl, err := q.GetDeadLetter(ctx, "bad-1")
	if err != nil {
		t.Fatal(err)
	}
	if string(dl.JobRaw) != "not json" || dl.Job != nil {
		t.Fatalf("dead letter keeps job %q raw %q", dl.Job, dl.JobRaw)
	}
	if dls, err := q.ListDeadLetters(ctx, "unknown", 0); err != nil || len(dls) != 1 {
		t.Fatalf("a bad job's dead letter is on ingest.dlq.unknown: %+v, %v", dls, err)
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
	msg := fetchOne(t, q) // and never acked: the worker "crashed"
	meta, _ := msg.Metadata()

	handled := make(chan uint64, 4)
	watchCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- q.WatchMaxDeliveries(watchCtx, func(ctx context.Context, seq uint64) error {
			err := q.DeadLetterBySeq(ctx, seq, queue.JobError{Class: "max_deliveries", Message: "deliveries ran out", Permanent: true}, "sweeper")
			if err == nil {
				handled <- seq
			}
			return err
		})
	}()
	select {
	case seq := <-handled:
		if seq != meta.Sequence.Stream {
			t.Fatalf("advisory for sequence %d, want %d", seq, meta.Sequence.Stream)
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
	if dl.Reason != queue.ReasonMaxDeliveries || dl.Attempts != 1 || dl.Worker != "sweeper" || dl.StreamSeq != meta.Sequence.Stream || dl.Domain != "recruit" {
		t.Fatalf("dead letter = %+v", dl)
	}
	st, err := q.GetStatus(ctx, "crashy")
	if err != nil || st.State != queue.StateFailed || st.Error == nil || st.Error.Class != "max_deliveries" {
		t.Fatalf("status = %+v, %v", st, err)
	}
	// Idempotent: the message is gone, a second call does nothing.
	if err := q.DeadLetterBySeq(ctx, meta.Sequence.Stream, queue.JobError{}, "other"); err != nil {
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
	if err := q.DeadLetterBySeq(ctx, res.Seq, queue.JobError{Class: "max_deliveries"}, "sweeper"); err != nil {
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
