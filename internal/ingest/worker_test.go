package ingest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

func TestBothDomainsEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	cases := []struct{ domain, fixture string }{
		{"recruit", "recruit_small_df"},
		{"recruit", "recruit_small_records"},
		{"candidate", "candidate_small_df"},
		{"candidate", "candidate_small_records"},
	}
	for _, c := range cases {
		e.addFixture(c.fixture + ".pkl")
	}
	e.startWorker("w1", nil)

	ids := make([]string, len(cases))
	for i, c := range cases {
		ids[i] = e.enqueue(queue.Job{Domain: c.domain, FileName: c.fixture + ".pkl", Options: queue.JobOptions{ChunkRecords: 7}})
	}
	// A job published straight to NATS, with no status record: the worker
	// creates one.
	e.publish("ingest.jobs.recruit", `{"file_name":"recruit_small_df.pkl"}`, "direct-1")
	for i, c := range cases {
		s := e.waitFinished(ids[i])
		if s.State != queue.StateSucceeded {
			t.Fatalf("%s: %+v", c.fixture, s)
		}
		if s.RecordsTotal != 50 || s.RecordsSent != 50 || s.ChunksSent != 8 || s.Attempts != 1 || s.Worker != "w1" {
			t.Errorf("%s: status %+v, want 50 of 50 records in 8 chunks on attempt 1 by w1", c.fixture, s)
		}
		e.checkCommitted(c.domain, ids[i], c.fixture+".jsonl")
	}
	s := e.waitFinished("direct-1")
	if s.State != queue.StateSucceeded || s.Domain != "recruit" || s.FileName != "recruit_small_df.pkl" || len(s.History) != 1 {
		t.Fatalf("direct job: %+v", s)
	}
	e.checkCommitted("recruit", "direct-1", "recruit_small_df.jsonl")
}

func TestTransientFailureRetriedThenCommittedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{FailFirst: 2})
	e.addFixture("candidate_small_df.pkl")
	e.startWorker("w1", nil)
	id := e.enqueue(queue.Job{Domain: "candidate", FileName: "candidate_small_df.pkl"})
	s := e.waitFinished(id)
	if s.State != queue.StateSucceeded || s.Attempts != 3 {
		t.Fatalf("status %+v, want succeeded on attempt 3", s)
	}
	if len(s.History) != 3 || s.History[0].Outcome != ingest.OutcomeRetrying || s.History[0].Error == nil ||
		s.History[0].Error.Class != ingest.ClassServerUnavailable || s.History[2].Outcome != ingest.OutcomeSucceeded {
		t.Errorf("history %+v", s.History)
	}
	if st := e.batch.Stats(); st.Commits != 1 || st.Injected != 2 {
		t.Errorf("batch server stats %+v, want 2 injected failures and 1 commit", st)
	}
	e.checkCommitted("candidate", id, "candidate_small_df.jsonl")
}

func TestPermanentErrorsAreDeadLettered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.addFixture("recruit_small_df.pkl")
	e.addFixture("candidate_small_df.pkl")
	e.addFile("garbage.pkl", []byte("this is not a pickle"))
	w1 := e.startWorker("w1", nil)

	type want struct{ id, class string }
	var wants []want
	add := func(subject, body, id, class string) {
		e.publish(subject, body, id)
		wants = append(wants, want{id, class})
	}
	add("ingest.jobs.recruit", `{"file_name": 42}`, "bad-json", ingest.ClassBadJob)
	add("ingest.jobs.nosuch", `{"file_name":"recruit_small_df.pkl"}`, "unknown-domain", ingest.ClassUnknownDomain)
	add("ingest.jobs.recruit", `{"file_name":"../../etc/passwd"}`, "unsafe", ingest.ClassUnsafePath)
	add("ingest.jobs.recruit", `{"file_name":"missing.pkl"}`, "missing", ingest.ClassFileNotFound)
	add("ingest.jobs.recruit", `{"file_name":"garbage.pkl"}`, "garbage", ingest.ClassBadPickle)
	add("ingest.jobs.recruit", `{"file_name":"candidate_small_df.pkl"}`, "wrong-domain", ingest.ClassValidation)
	good := e.enqueue(queue.Job{Domain: "recruit", FileName: "recruit_small_df.pkl"})

	if s := e.waitFinished(good); s.State != queue.StateSucceeded {
		t.Fatalf("good job after the bad ones: %+v", s)
	}
	for _, w := range wants {
		s := e.waitFinished(w.id)
		if s.State != queue.StateFailed || s.Error == nil || s.Error.Class != w.class || !s.Error.Permanent || s.Attempts != 1 {
			t.Errorf("job %s: status %+v, want failed with class %s on attempt 1", w.id, s, w.class)
		}
		// What the schema decides (here a required field missing) fails
		// the job before its first chunk leaves.
		if s.ChunksSent != 0 || s.RecordsSent != 0 {
			t.Errorf("job %s: %d chunks (%d records) sent before it failed, want none", w.id, s.ChunksSent, s.RecordsSent)
		}
	}
	dls := e.deadLetters()
	for _, w := range wants {
		dl, ok := dls[w.id]
		if !ok {
			t.Errorf("job %s not in the dead letters", w.id)
			continue
		}
		if dl.Error.Class != w.class || dl.Reason != queue.ReasonPermanent || dl.Attempts != 1 || dl.Worker != "w1" || len(dl.Job) == 0 || dl.Error.Message == "" {
			t.Errorf("dead letter of %s: %+v", w.id, dl)
		}
	}
	if len(dls) != len(wants) {
		t.Errorf("%d dead letters, want %d", len(dls), len(wants))
	}
	// A domain the worker does not know is no metric label value.
	_, metrics := get(t, w1.w.Handler(), "/metrics")
	if strings.Contains(metrics, `domain="nosuch"`) || !strings.Contains(metrics, `domain="invalid",outcome="failed"`) {
		t.Errorf("metrics label unknown domains other than \"invalid\":\n%s", metrics)
	}
	e.checkCommitted("recruit", good, "recruit_small_df.jsonl")
}

// TestRetryBudgetNotMaxDeliverEndsRetries: transient failures are retried
// past the consumer's MaxDeliver (the last delivery hands the job off)
// until the retry budget, counted from the run's first failure, is spent;
// only then is the job dead-lettered, with reason retries_exhausted. While
// it waits, its status says since when it is retrying and when the next
// attempt is due.
func TestRetryBudgetNotMaxDeliverEndsRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{MaxDeliver: 2, FailFirst: 1000})
	e.addFixture("recruit_small_records.pkl")
	const budget = 1500 * time.Millisecond
	e.startWorker("w1", func(w *ingest.WorkerConfig, _ *ingest.ProcessorConfig) { w.RetryBudget = budget })
	id := e.enqueue(queue.Job{Domain: "recruit", FileName: "recruit_small_records.pkl"})

	retrying := e.waitStatus(id, func(s queue.Status) bool { return s.State == queue.StateRetrying })
	if retrying.RetryingSince.IsZero() || retrying.NextRetryAt.IsZero() || retrying.NextRetryAt.Before(retrying.RetryingSince) ||
		retrying.Error == nil || retrying.Error.Class != ingest.ClassServerUnavailable {
		t.Errorf("retrying status %+v, want retrying_since, next_retry_at and the error", retrying)
	}
	s := e.waitFinished(id)
	if s.State != queue.StateFailed || s.Error == nil || s.Error.Class != ingest.ClassServerUnavailable || s.Error.Permanent {
		t.Fatalf("status %+v, want failed with server_unavailable", s)
	}
	if s.Attempts <= 2 {
		t.Errorf("failed after %d attempts: MaxDeliver (2) ended the retries, not the budget", s.Attempts)
	}
	if !s.RetryingSince.IsZero() || !s.NextRetryAt.IsZero() {
		t.Errorf("a dead letter ends the run: retrying_since %v, next_retry_at %v", s.RetryingSince, s.NextRetryAt)
	}
	last := s.History[len(s.History)-1]
	if spent := last.FinishedAt.Sub(s.History[0].FinishedAt); spent < budget {
		t.Errorf("dead-lettered %s after the first failure, within the %s budget", spent, budget)
	}
	dl, ok := e.deadLetters()[id]
	if !ok || dl.Reason != queue.ReasonRetries || dl.Attempts != s.Attempts {
		t.Fatalf("dead letter %+v (found %v), want reason %s after %d attempts", dl, ok, queue.ReasonRetries, s.Attempts)
	}
	for i, a := range s.History {
		if a.Attempt != i+1 {
			t.Errorf("history %d is attempt %d: attempt numbers must count on across handoffs", i, a.Attempt)
		}
	}
}

// TestLongJobIsNotRedeliveredWhileItsWorkerLives runs before the parallel
// tests, alone: with a 2s AckWait, a machine loaded by the race detector
// and a dozen parallel NATS servers could starve lease extensions.
func TestLongJobIsNotRedeliveredWhileItsWorkerLives(t *testing.T) {
	// AckWait 2s; 50 one-record chunks at 140ms each: a 7s stream, more
	// than 3 x AckWait.
	e := newEnv(t, envOpts{AckWait: 2 * time.Second, ChunkDelay: 140 * time.Millisecond})
	e.addFixture("recruit_small_df.pkl")
	workers := map[string]*worker{
		"w1": e.startWorker("w1", nil),
		"w2": e.startWorker("w2", nil), // would take a redelivery
	}
	id := e.enqueue(queue.Job{Domain: "recruit", FileName: "recruit_small_df.pkl", Options: queue.JobOptions{ChunkRecords: 1}})
	s := e.waitFinished(id)
	if s.State != queue.StateSucceeded || s.Attempts != 1 || len(s.History) != 1 {
		t.Fatalf("status %+v, want succeeded on the only attempt", s)
	}
	// The batch server sleeps 140ms after each of the 50 chunks: the job
	// cannot take less than 7s, more than 3 x AckWait.
	if d := s.FinishedAt.Sub(s.StartedAt); d < 3*2*time.Second {
		t.Errorf("the job took %s, not more than 3 x AckWait", d)
	}
	// Its lease was extended, with confirmation, every AckWait/3 (667ms)
	// for 7s or more.
	confirmed := metricValue(t, workers[s.Worker].w.Handler(), `embedstream_worker_lease_extensions_total{result="confirmed"}`)
	if confirmed < 7 {
		t.Errorf("%v confirmed lease extensions, want at least 7", confirmed)
	}
	if st := e.batch.Stats(); st.Streams != 1 || st.Commits != 1 {
		t.Errorf("batch server stats %+v, want exactly one stream", st)
	}
}

func TestMaxDeliveriesAdvisoryDeadLettersAbandonedJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{AckWait: time.Second, MaxDeliver: 1})
	// A "crashed worker": takes the job's only delivery and never answers.
	cons, err := e.q.Jobs(context.Background(), "crashed")
	if err != nil {
		t.Fatal(err)
	}
	e.publish("ingest.jobs.recruit", `{"file_name":"whatever.pkl"}`, "abandoned")
	d, err := cons.Next(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if job, _ := d.Job(); job.ID != "abandoned" {
		t.Fatalf("fetched %q", job.ID)
	}
	// A live worker turns the MAX_DELIVERIES advisory into a dead letter.
	e.startWorker("w1", nil)
	s := e.waitFinished("abandoned")
	if s.State != queue.StateFailed || s.Error == nil || s.Error.Class != ingest.ClassMaxDeliveries {
		t.Fatalf("status %+v, want failed with max_deliveries", s)
	}
	dl, ok := e.deadLetters()["abandoned"]
	if !ok || dl.Reason != queue.ReasonMaxDeliveries {
		t.Fatalf("dead letter %+v (found %v)", dl, ok)
	}
	// And it is gone from the work queue.
	if n := queuetest.StreamMsgs(t, e.nats, e.qcfg.Stream); n != 0 {
		t.Errorf("%d messages left in the job stream", n)
	}
}

func TestShutdownHandsRunningJobBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{ChunkDelay: 50 * time.Millisecond})
	e.addFixture("recruit_small_df.pkl")
	w1 := e.startWorker("w1", func(c *ingest.WorkerConfig, _ *ingest.ProcessorConfig) { c.ShutdownTimeout = 0 })
	id := e.enqueue(queue.Job{Domain: "recruit", FileName: "recruit_small_df.pkl", Options: queue.JobOptions{ChunkRecords: 1}})
	e.waitChunk(id)
	w1.stop() // cancels the job at once and Naks it
	s := e.waitStatus(id, func(s queue.Status) bool { return s.State == queue.StateRetrying })
	if s.Error == nil || s.Error.Class != ingest.ClassShutdown || len(s.History) != 1 || s.History[0].Outcome != ingest.OutcomeShutdown {
		t.Fatalf("status after shutdown %+v", s)
	}
	if _, ok := e.deadLetters()[id]; ok {
		t.Fatal("a job cut off by shutdown was dead-lettered")
	}
	e.startWorker("w2", nil)
	s = e.waitFinished(id)
	if s.State != queue.StateSucceeded || s.Attempts != 2 || s.Worker != "w2" {
		t.Fatalf("status %+v, want succeeded by w2 on attempt 2", s)
	}
	e.checkCommitted("recruit", id, "recruit_small_df.jsonl")
}

// TestShutdownOnLastDeliveryHandsJobOff: a job cut off by shutdown on its
// last allowed delivery is republished for another worker, not Nak'd into
// MAX_DELIVERIES and a dead letter.
func TestShutdownOnLastDeliveryHandsJobOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{MaxDeliver: 1, ChunkDelay: 50 * time.Millisecond})
	e.addFixture("recruit_small_df.pkl")
	w1 := e.startWorker("w1", func(c *ingest.WorkerConfig, _ *ingest.ProcessorConfig) { c.ShutdownTimeout = 0 })
	id := e.enqueue(queue.Job{Domain: "recruit", FileName: "recruit_small_df.pkl", Options: queue.JobOptions{ChunkRecords: 1}})
	e.waitChunk(id)
	w1.stop()
	s := e.waitStatus(id, func(s queue.Status) bool { return s.State == queue.StateRetrying })
	if s.Error == nil || s.Error.Class != ingest.ClassShutdown {
		t.Fatalf("status after shutdown %+v", s)
	}
	e.startWorker("w2", nil)
	s = e.waitFinished(id)
	if s.State != queue.StateSucceeded || s.Attempts != 2 || s.Worker != "w2" {
		t.Fatalf("status %+v, want succeeded by w2 on attempt 2", s)
	}
	if len(s.History) != 2 || s.History[0].Outcome != ingest.OutcomeShutdown || s.History[0].Attempt != 1 ||
		s.History[1].Outcome != ingest.OutcomeSucceeded || s.History[1].Attempt != 2 {
		t.Errorf("history %+v, want shutdown on attempt 1 then success on attempt 2", s.History)
	}
	if dls := e.deadLetters(); len(dls) != 0 {
		t.Fatalf("dead letters %+v, want none", dls)
	}
	if st := e.batch.Stats(); st.Commits != 1 {
		t.Errorf("batch server stats %+v, want one commit", st)
	}
	e.checkCommitted("recruit", id, "recruit_small_df.jsonl")
	// The cut-off delivery was terminated and the copy acked: nothing left.
	if n := queuetest.StreamMsgs(t, e.nats, e.qcfg.Stream); n != 0 {
		t.Errorf("%d messages left in the job stream", n)
	}
}

// TestReadinessFollowsConsumers: the worker is not ready while its job
// consumer is gone or its MAX_DELIVERIES watcher cannot start, and ready
// again once they are back.
func TestReadinessFollowsConsumers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	js := queuetest.JetStream(t, e.nats)
	e.beforeRun = func() {
		if err := js.DeleteConsumer(ctx, e.qcfg.AdvisoryStream(), queue.AdvisoryConsumerName); err != nil {
			t.Fatal(err)
		}
	}
	w := e.startWorker("w1", nil)
	h := w.w.Handler()
	waitReady(t, h, 503, "advisory watcher down")
	if _, err := queue.Open(ctx, e.nc, e.qcfg); err != nil { // recreates the consumers
		t.Fatal(err)
	}
	waitReady(t, h, 200, `"ready"`)

	if err := js.DeleteConsumer(ctx, e.qcfg.Stream, queue.ConsumerName); err != nil {
		t.Fatal(err)
	}
	waitReady(t, h, 503, "job consumer not bound")
	if _, err := queue.Open(ctx, e.nc, e.qcfg); err != nil {
		t.Fatal(err)
	}
	waitReady(t, h, 200, `"ready"`)
	e.addFixture("recruit_small_df.pkl")
	id := e.enqueue(queue.Job{Domain: "recruit", FileName: "recruit_small_df.pkl"})
	if s := e.waitFinished(id); s.State != queue.StateSucceeded {
		t.Fatalf("job after the consumer came back: %+v", s)
	}
}

func TestWorkerPullsOnlyWhatItCanRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{ChunkDelay: 30 * time.Millisecond})
	e.addFixture("candidate_small_records.pkl")
	for i := range 6 {
		e.enqueue(queue.Job{ID: fmt.Sprintf("j%d", i), Domain: "candidate", FileName: "candidate_small_records.pkl", Options: queue.JobOptions{ChunkRecords: 2}})
	}
	e.startWorker("w1", func(c *ingest.WorkerConfig, _ *ingest.ProcessorConfig) { c.Concurrency = 2 })
	e.waitChunk("j0")
	cs, err := e.q.ConsumerStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cs.InFlight > 2 {
		t.Errorf("%d jobs pending acknowledgement with concurrency 2", cs.InFlight)
	}
	for i := range 6 {
		if s := e.waitFinished(fmt.Sprintf("j%d", i)); s.State != queue.StateSucceeded {
			t.Errorf("j%d: %+v", i, s)
		}
	}
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.addFixture("recruit_small_df.pkl")
	w := e.startWorker("w1", nil)
	id := e.enqueue(queue.Job{Domain: "recruit", FileName: "recruit_small_df.pkl"})
	e.waitFinished(id)
	h := w.w.Handler()
	for path, want := range map[string]string{
		"/healthz": `"ok"`,
		"/readyz":  `"ready"`,
		"/metrics": `embedstream_worker_jobs_total{domain="recruit",outcome="succeeded"} 1`,
	} {
		code, body := get(t, h, path)
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d %s; want 200 with %s", path, code, body, want)
		}
	}
	_, body := get(t, h, "/metrics")
	for _, m := range []string{"embedstream_worker_records_streamed_total", "embedstream_worker_job_duration_seconds_bucket",
		"embedstream_worker_jobs_in_flight", `embedstream_worker_deliveries_total{attempt="1"}`} {
		if !strings.Contains(body, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	w.stop()
	if code, _ := get(t, h, "/readyz"); code != 503 {
		t.Errorf("readyz after stop: %d, want 503", code)
	}
}

func TestObjectStoreSourceJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	f, err := os.Open(filepath.Join(fixtureDir, "candidate_small_records.pkl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := e.q.PutFile(context.Background(), "uploads/c.pkl", f); err != nil {
		t.Fatal(err)
	}
	e.startWorker("w1", nil)
	id := e.enqueue(queue.Job{Domain: "candidate", FileName: "uploads/c.pkl", Source: queue.SourceObject})
	missing := e.enqueue(queue.Job{Domain: "candidate", FileName: "uploads/none.pkl", Source: queue.SourceObject})
	if s := e.waitFinished(id); s.State != queue.StateSucceeded {
		t.Fatalf("object job: %+v", s)
	}
	e.checkCommitted("candidate", id, "candidate_small_records.jsonl")
	if s := e.waitFinished(missing); s.State != queue.StateFailed || s.Error.Class != ingest.ClassFileNotFound {
		t.Fatalf("missing object: %+v", s)
	}
}
