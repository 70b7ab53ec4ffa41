package queue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// setup starts a NATS server and opens the queue on it with
// [queuetest.Config]; ctx is a [testCtx].
func setup(t *testing.T) (*queuetest.Server, *queue.Queue, context.Context) {
	t.Helper()
	s := queuetest.StartServer(t)
	return s, queuetest.OpenQueue(t, s, queuetest.Config()), testCtx(t)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	polltest.Until(t, 20*time.Second, what, cond)
}

// jsOf returns a JetStream context on q's connection, for the tests to
// look at what the queue made.
func jsOf(t *testing.T, q *queue.Queue) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(q.Conn())
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func streamMsgs(t *testing.T, q *queue.Queue, name string) uint64 {
	t.Helper()
	s, err := jsOf(t, q).Stream(testCtx(t), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestOpenIdempotentAndConcurrent(t *testing.T) {
	t.Parallel()
	s := queuetest.StartServer(t)
	cfg := queuetest.Config()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		nc := queuetest.Connect(t, s)
		wg.Go(func() {
			_, err := queue.Open(testCtx(t), nc, cfg)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
	}
	q := queuetest.OpenQueue(t, s, cfg) // and once more, sequentially
	info, err := jsOf(t, q).Stream(testCtx(t), cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	sc := info.CachedInfo().Config
	if sc.Retention != jetstream.WorkQueuePolicy || sc.Discard != jetstream.DiscardNew || sc.Storage != jetstream.FileStorage ||
		sc.Duplicates != queue.DuplicateWindow || len(sc.Subjects) != 1 || sc.Subjects[0] != queue.SubjectWildcard {
		t.Fatalf("job stream config = %+v", sc)
	}
	for _, name := range []string{queue.DLQStream, cfg.AdvisoryStream(), "KV_" + queue.StatusBucket, "OBJ_" + queue.FilesBucket} {
		if _, err := jsOf(t, q).Stream(testCtx(t), name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
	if err := q.Ready(testCtx(t)); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

func TestOpenUpdatesConsumer(t *testing.T) {
	t.Parallel()
	s := queuetest.StartServer(t)
	cfg := queuetest.Config()
	queuetest.OpenQueue(t, s, cfg)
	cfg.AckWait, cfg.MaxDeliver, cfg.MaxAckPending = 7*time.Second, 3, 64
	q := queuetest.OpenQueue(t, s, cfg)
	c, err := jsOf(t, q).Consumer(testCtx(t), cfg.Stream, queue.ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	cc := info.Config
	if cc.AckWait != 7*time.Second || cc.MaxDeliver != 3 || cc.MaxAckPending != 64 || cc.AckPolicy != jetstream.AckExplicitPolicy ||
		cc.FilterSubject != queue.SubjectWildcard || cc.Durable != queue.ConsumerName {
		t.Fatalf("consumer config = %+v", cc)
	}
	jobs, err := q.Jobs(testCtx(t), "w1")
	if err != nil {
		t.Fatal(err)
	}
	if jobs.AckWait() != 7*time.Second || jobs.MaxDeliver() != 3 || jobs.Worker() != "w1" {
		t.Fatalf("Jobs: AckWait %s, MaxDeliver %d, worker %q; want 7s, 3, w1", jobs.AckWait(), jobs.MaxDeliver(), jobs.Worker())
	}
}

func TestOpenKeepTopology(t *testing.T) {
	t.Parallel()
	s := queuetest.StartServer(t)
	ctx := testCtx(t)

	// A publisher alone creates what is missing, with its settings.
	pub := queuetest.Config()
	pub.KeepTopology = true
	pub.AckWait = 11 * time.Second
	queuetest.OpenQueue(t, s, pub)

	// The workers' Open updates everything to theirs.
	worker := queuetest.Config()
	worker.AckWait, worker.MaxDeliver, worker.MaxAckPending = 42*time.Second, 4, 32
	worker.MaxBytes, worker.MaxMsgs, worker.StatusTTL = 1<<20, 100, time.Hour
	queuetest.OpenQueue(t, s, worker)

	// A publisher with other settings everywhere (R3 would even fail on
	// this single server) binds the topology and changes nothing.
	pub.Replicas = 3
	pub.AckWait, pub.MaxDeliver, pub.MaxAckPending = 13*time.Second, 9, 7
	pub.MaxBytes, pub.MaxMsgs, pub.StatusTTL = 2<<20, 200, 2*time.Hour
	q := queuetest.OpenQueue(t, s, pub)

	js := jsOf(t, q)
	for _, name := range []string{worker.Stream, queue.DLQStream, worker.AdvisoryStream(), "KV_" + queue.StatusBucket, "OBJ_" + queue.FilesBucket} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := st.CachedInfo().Config.Replicas; r != 1 {
			t.Errorf("stream %s: replicas = %d, want 1", name, r)
		}
	}
	jobs, err := js.Stream(ctx, worker.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if sc := jobs.CachedInfo().Config; sc.MaxBytes != 1<<20 || sc.MaxMsgs != 100 {
		t.Errorf("job stream limits = %d bytes, %d msgs; want the workers' %d, 100", sc.MaxBytes, sc.MaxMsgs, 1<<20)
	}
	kv, err := js.KeyValue(ctx, queue.StatusBucket)
	if err != nil {
		t.Fatal(err)
	}
	kst, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if kst.TTL() != time.Hour {
		t.Errorf("status bucket TTL = %s, want the workers' 1h", kst.TTL())
	}
	c, err := js.Consumer(ctx, worker.Stream, queue.ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	if cc := c.CachedInfo().Config; cc.AckWait != 42*time.Second || cc.MaxDeliver != 4 || cc.MaxAckPending != 32 {
		t.Fatalf("consumer AckWait %s, MaxDeliver %d, MaxAckPending %d; want the workers' 42s, 4, 32", cc.AckWait, cc.MaxDeliver, cc.MaxAckPending)
	}
	// A handle bound through the publisher's queue reports the consumer's
	// settings, not the publisher's.
	if jobs, err := q.Jobs(ctx, "w1"); err != nil || jobs.AckWait() != 42*time.Second || jobs.MaxDeliver() != 4 {
		t.Fatalf("Jobs = %+v, %v; want AckWait 42s, MaxDeliver 4", jobs, err)
	}
	// The publisher's queue still works.
	if _, err := q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: "a.pkl"}); err != nil {
		t.Fatal(err)
	}
}

func TestDLQStreamBounded(t *testing.T) {
	t.Parallel()
	s := queuetest.StartServer(t)
	// An INGEST_DLQ as earlier versions made it (unbounded, DiscardOld)
	// is updated in place.
	js, err := jetstream.New(queuetest.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(testCtx(t), jetstream.StreamConfig{
		Name: queue.DLQStream, Subjects: []string{queue.DLQSubjectPrefix + ">"}, Storage: jetstream.FileStorage,
		Duplicates: queue.DuplicateWindow, AllowDirect: true,
	}); err != nil {
		t.Fatal(err)
	}
	q := queuetest.OpenQueue(t, s, queuetest.Config())
	st, err := jsOf(t, q).Stream(testCtx(t), queue.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	sc := st.CachedInfo().Config
	if sc.MaxBytes != queue.DLQMaxBytes || sc.MaxMsgs != queue.DLQMaxMsgs || sc.Discard != jetstream.DiscardNew || sc.MaxAge != 0 {
		t.Fatalf("DLQ limits: %d bytes, %d msgs, discard %v, max age %s; want bounded, DiscardNew, no age limit",
			sc.MaxBytes, sc.MaxMsgs, sc.Discard, sc.MaxAge)
	}
}

func TestConnect(t *testing.T) {
	t.Parallel()
	s := queuetest.StartServer(t)
	c := queue.ConnOptions{URL: "nats://127.0.0.1:1," + s.URL()}
	nc, err := queue.Connect(testCtx(t), c, "test", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if !nc.IsConnected() {
		t.Fatal("not connected")
	}
	// Nobody listens on port 1: Connect retries until its ctx ends.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := queue.Connect(ctx, queue.ConnOptions{URL: "nats://127.0.0.1:1"}, "test", zerolog.Nop()); !errors.Is(err, queue.ErrUnavailable) {
		t.Fatalf("Connect to nothing: %v, want ErrUnavailable", err)
	}
}

func TestEnqueueWorkQueueRetention(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	res, err := q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: "a.pkl"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicate || res.Seq == 0 || res.JobID == "" {
		t.Fatalf("result = %+v", res)
	}
	st, err := q.GetStatus(ctx, res.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != queue.StateQueued || st.Domain != "recruit" || st.FileName != "a.pkl" || st.Source != queue.SourceFile || st.EnqueuedAt.IsZero() {
		t.Fatalf("status = %+v", st)
	}
	c, err := q.Jobs(ctx, "w1")
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Next(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	job, err := d.Job()
	if err != nil {
		t.Fatal(err)
	}
	if job.ID != res.JobID || job.Domain != "recruit" || job.FileName != "a.pkl" || d.StreamSeq() != res.Seq {
		t.Fatalf("job = %+v at %d", job, d.StreamSeq())
	}
	if err := d.Succeed(ctx, queue.Progress{}); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgs(t, q, queue.DefaultStream); n != 0 {
		t.Fatalf("work queue holds %d messages after the ack, want 0", n)
	}
}

func TestEnqueueQueueFull(t *testing.T) {
	t.Parallel()
	s := queuetest.StartServer(t)
	cfg := queuetest.Config()
	cfg.MaxMsgs = 2
	q := queuetest.OpenQueue(t, s, cfg)
	ctx := testCtx(t)
	for i := range 2 {
		if _, err := q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: fmt.Sprint(i, ".pkl")}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := q.Enqueue(ctx, queue.Job{ID: "third", Domain: "recruit", FileName: "3.pkl"})
	if !errors.Is(err, queue.ErrQueueFull) {
		t.Fatalf("third Enqueue: %+v, %v; want ErrQueueFull", res, err)
	}
	if _, err := q.GetStatus(ctx, "third"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("status of the refused job: %v, want ErrNotFound", err)
	}
	if n := streamMsgs(t, q, queue.DefaultStream); n != 2 {
		t.Fatalf("stream holds %d, want the 2 accepted jobs", n)
	}
}

func TestEnqueueDedupe(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	job := queue.Job{ID: "idem-1", Domain: "candidate", FileName: "c.pkl"}
	first, err := q.Enqueue(ctx, job)
	if err != nil || first.Duplicate {
		t.Fatalf("first: %+v, %v", first, err)
	}
	// A worker starts it; a retried enqueue must not reset the status.
	if _, err := q.UpdateStatus(ctx, "idem-1", func(s *queue.Status) error { s.State = queue.StateRunning; return nil }); err != nil {
		t.Fatal(err)
	}
	again, err := q.Enqueue(ctx, job)
	if err != nil || !again.Duplicate || again.JobID != "idem-1" {
		t.Fatalf("second: %+v, %v", again, err)
	}
	st, err := q.GetStatus(ctx, "idem-1")
	if err != nil || st.State != queue.StateRunning {
		t.Fatalf("status after the duplicate: %+v, %v", st, err)
	}
	if n := streamMsgs(t, q, queue.DefaultStream); n != 1 {
		t.Fatalf("stream holds %d jobs, want 1", n)
	}
}

// TestEnqueueDuplicateAnswersStoredJob checks that a repeated id answers
// with the stored job, and that one naming another job is a conflict.
func TestEnqueueDuplicateAnswersStoredJob(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	job := queue.Job{ID: "idem-3", Domain: "candidate", FileName: "c.pkl"}
	first, err := q.Enqueue(ctx, job)
	if err != nil || first.Status.State != queue.StateQueued || first.Status.FileName != "c.pkl" || first.Status.Source != queue.SourceFile {
		t.Fatalf("first: %+v, %v", first, err)
	}
	again, err := q.Enqueue(ctx, job)
	if err != nil || !again.Duplicate || again.Status.Domain != "candidate" || again.Status.FileName != "c.pkl" || again.Status.State != queue.StateQueued {
		t.Fatalf("repeat: %+v, %v", again, err)
	}
	for _, other := range []queue.Job{
		{ID: "idem-3", Domain: "recruit", FileName: "c.pkl"},
		{ID: "idem-3", Domain: "candidate", FileName: "d.pkl"},
		{ID: "idem-3", Domain: "candidate", FileName: "c.pkl", Source: queue.SourceObject},
	} {
		res, err := q.Enqueue(ctx, other)
		if !errors.Is(err, queue.ErrIdempotencyConflict) {
			t.Fatalf("%+v: err = %v, want ErrIdempotencyConflict", other, err)
		}
		if !res.Duplicate || res.Status.Domain != "candidate" || res.Status.FileName != "c.pkl" || res.Status.Source != queue.SourceFile {
			t.Fatalf("%+v: result %+v, want the stored job", other, res.Status)
		}
	}
	if n := streamMsgs(t, q, queue.DefaultStream); n != 1 {
		t.Fatalf("stream holds %d jobs, want 1", n)
	}
}

// TestEnqueueDedupeInWindow covers the JetStream duplicate window: the
// status record is gone (or was never written) but the Nats-Msg-Id is
// still remembered.
func TestEnqueueDedupeInWindow(t *testing.T) {
	t.Parallel()
	_, q, ctx := setup(t)
	job := queue.Job{ID: "idem-2", Domain: "candidate", FileName: "c.pkl"}
	if _, err := q.Enqueue(ctx, job); err != nil {
		t.Fatal(err)
	}
	kv, err := jsOf(t, q).KeyValue(ctx, queue.StatusBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, "idem-2"); err != nil {
		t.Fatal(err)
	}
	res, err := q.Enqueue(ctx, job)
	if err != nil || !res.Duplicate {
		t.Fatalf("second: %+v, %v; want a duplicate", res, err)
	}
	if n := streamMsgs(t, q, queue.DefaultStream); n != 1 {
		t.Fatalf("stream holds %d jobs, want 1", n)
	}
}

func TestEnqueueRejectsBadJobs(t *testing.T) {
	t.Parallel()
	_, q, _ := setup(t)
	for _, job := range []queue.Job{
		{Domain: "recruit"},
		{Domain: "", FileName: "a.pkl"},
		{Domain: "re.cruit", FileName: "a.pkl"},
		{ID: "bad id", Domain: "recruit", FileName: "a.pkl"},
		{Domain: "recruit", FileName: "a.pkl", Source: "s3"},
		{Domain: "recruit", FileName: "a.pkl", Options: queue.JobOptions{ChunkRecords: -1}},
	} {
		if _, err := q.Enqueue(testCtx(t), job); !errors.Is(err, queue.ErrBadJob) {
			t.Errorf("Enqueue(%+v) = %v, want ErrBadJob", job, err)
		}
	}
	if n := streamMsgs(t, q, queue.DefaultStream); n != 0 {
		t.Fatalf("stream holds %d jobs, want 0", n)
	}
}

func TestEnqueueUnavailable(t *testing.T) {
	t.Parallel()
	s, q, _ := setup(t)
	s.Shutdown()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err := q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: "a.pkl"})
	if !errors.Is(err, queue.ErrUnavailable) {
		t.Fatalf("Enqueue with NATS down: %v, want ErrUnavailable", err)
	}
	if err := q.Ready(ctx); !errors.Is(err, queue.ErrUnavailable) {
		t.Fatalf("Ready with NATS down: %v, want ErrUnavailable", err)
	}
}

// TestEnqueueWhileDownNotSentLater: a job refused while NATS is down must
// not be published behind the caller's back once NATS is back.
func TestEnqueueWhileDownNotSentLater(t *testing.T) {
	t.Parallel()
	s := queuetest.StartServer(t)
	nc, err := queue.Connect(testCtx(t), queue.ConnOptions{URL: s.URL()}, "test", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	q, err := queue.Open(testCtx(t), nc, queuetest.Config())
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
	waitFor(t, "disconnect", func() bool { return !nc.IsConnected() })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: "a.pkl"}); !errors.Is(err, queue.ErrUnavailable) {
		t.Fatalf("Enqueue while down: %v, want ErrUnavailable", err)
	}
	s.Restart(t)
	waitFor(t, "reconnect", nc.IsConnected)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := streamMsgs(t, q, queue.DefaultStream); n != 0 {
		t.Fatalf("stream holds %d jobs after the reconnect, want 0", n)
	}
}

func TestEnqueueSurvivesRestart(t *testing.T) {
	t.Parallel()
	s, q, ctx := setup(t)
	res, err := q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: "a.pkl"})
	if err != nil {
		t.Fatal(err)
	}
	s.Restart(t)
	waitFor(t, "reconnect", q.Conn().IsConnected)
	st, err := q.GetStatus(ctx, res.JobID)
	if err != nil || st.State != queue.StateQueued {
		t.Fatalf("status after restart: %+v, %v", st, err)
	}
	if n := streamMsgs(t, q, queue.DefaultStream); n != 1 {
		t.Fatalf("stream holds %d jobs after restart, want 1", n)
	}
}

// syncBuffer is a log sink safe for the connection's callback goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Closing or draining our own connection logs no "nats disconnected"
// warning (a CLI's normal exit); losing the server does.
func TestConnectWarnsOnlyOnRealDisconnects(t *testing.T) {
	t.Parallel()
	s := queuetest.StartServer(t)
	for _, drain := range []bool{false, true} {
		var buf syncBuffer
		nc, err := queue.Connect(testCtx(t), queue.ConnOptions{URL: s.URL()}, "test", zerolog.New(&buf).Level(zerolog.DebugLevel))
		if err != nil {
			t.Fatal(err)
		}
		if drain {
			if err := nc.Drain(); err != nil {
				t.Fatal(err)
			}
		} else {
			nc.Close()
		}
		waitFor(t, "the closed callback", func() bool { return strings.Contains(buf.String(), "nats connection closed") })
		if strings.Contains(buf.String(), "nats disconnected") {
			t.Errorf("drain %v: a normal close logged %q", drain, buf.String())
		}
	}
	var buf syncBuffer
	nc, err := queue.Connect(testCtx(t), queue.ConnOptions{URL: s.URL()}, "test", zerolog.New(&buf))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s.Shutdown()
	waitFor(t, "a disconnect warning", func() bool { return strings.Contains(buf.String(), "nats disconnected") })
}
