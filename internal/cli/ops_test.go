package cli_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/cli"
	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
	"github.com/embedstream/embedstream/internal/wiring/publisher"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startPublisher serves the API with a running job index over ns, as
// `publisher serve` does, and returns its URL.
func startPublisher(t *testing.T, ns *queuetest.Server, token string) string {
	t.Helper()
	q := queuetest.OpenQueue(t, ns, queuetest.Config())
	ix := jobindex.New(q, jobindex.Config{}, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ix.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	api := httpapi.New(httpapi.Config{Token: token, Ready: q.Ready, Index: ix}, q, domainList{"candidate", "recruit"}, zerolog.Nop())
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	// As serve does before it reports ready: the index has loaded.
	polltest.Until(t, 20*time.Second, "the job index to load", ix.Ready)
	return srv.URL
}

type domainList []string

func (d domainList) Names() []string { return d }

// seedJobs writes n status records job-000.. a second apart: domains
// alternate recruit/candidate, states cycle queued, succeeded, failed.
func seedJobs(t *testing.T, q *queue.Queue, n int) {
	t.Helper()
	base := time.Now().UTC().Add(-time.Hour)
	for i := range n {
		if _, err := q.UpdateStatus(testCtx(t), fmt.Sprintf("job-%03d", i), func(s *queue.Status) error {
			s.Domain = []string{"recruit", "candidate"}[i%2]
			s.FileName = fmt.Sprintf("file_%03d.pkl", i)
			s.State = []string{queue.StateQueued, queue.StateSucceeded, queue.StateFailed}[i%3]
			s.EnqueuedAt = base.Add(time.Duration(i) * time.Second)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// `jobs` pages with its cursor and searches, reading NATS directly or,
// with PUBLISHER_URL, through the publisher's index: both print the same.
func TestJobsPagesAndSearch(t *testing.T) {
	t.Parallel()
	env, ns := natsEnv(t)
	seedJobs(t, queuetest.OpenQueue(t, ns, queuetest.Config()), 120)
	viaAPI := map[string]string{"NATS_URL": ns.URL(), "PUBLISHER_URL": startPublisher(t, ns, "tok") + "/", "API_TOKEN": "tok"}
	for name, env := range map[string]map[string]string{"direct": env, "publisher": viaAPI} {
		seen := map[string]bool{}
		cursor := ""
		for pages := 1; ; pages++ {
			args := []string{"jobs", "--json", "--limit", "50"}
			if cursor != "" {
				args = append(args, "--cursor", cursor)
			}
			r := run(t, env, args...)
			r.wantCode(t, cli.ExitOK)
			var l httpapi.JobList
			r.json(t, &l)
			for _, j := range l.Jobs {
				if seen[j.JobID] {
					t.Fatalf("%s: %s listed twice", name, j.JobID)
				}
				seen[j.JobID] = true
			}
			if pages == 1 && l.Jobs[0].JobID != "job-119" {
				t.Errorf("%s: first job %s, want the newest, job-119", name, l.Jobs[0].JobID)
			}
			if l.NextCursor == "" {
				break
			}
			cursor = l.NextCursor
		}
		if len(seen) != 120 {
			t.Errorf("%s: the pages listed %d jobs, want 120", name, len(seen))
		}
		r := run(t, env, "jobs", "--state", "failed", "--domain", "candidate", "--file", "FILE_0", "--limit", "2")
		r.wantCode(t, cli.ExitOK)
		if !strings.Contains(r.stdout, "job-095") || !strings.Contains(r.stdout, "job-089") || strings.Contains(r.stdout, "job-083") || !strings.Contains(r.stdout, "--cursor") {
			t.Errorf("%s: jobs search:\n%s", name, r.stdout)
		}
		run(t, env, "jobs", "--since", "yesterday").wantCode(t, cli.ExitUsage)
	}
	// A wrong token is one line saying what to do.
	viaAPI["API_TOKEN"] = "wrong"
	r := run(t, viaAPI, "jobs")
	r.wantCode(t, cli.ExitFailure)
	if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "set API_TOKEN") {
		t.Errorf("jobs with a wrong token: %q", r.stderr)
	}
}

// `queue` agrees with JetStream; `workers` lists the heartbeats.
func TestQueueAndWorkers(t *testing.T) {
	t.Parallel()
	env, ns := natsEnv(t)
	q := queuetest.OpenQueue(t, ns, queuetest.Config())
	ctx := testCtx(t)
	for range 4 {
		if _, err := q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: "sample.pkl"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.PublishDeadLetter(ctx, queue.DeadLetter{JobID: "dl", Domain: "candidate", Error: queue.JobError{Class: "validation"}, Reason: queue.ReasonPermanent}); err != nil {
		t.Fatal(err)
	}
	r := run(t, env, "queue", "--json")
	r.wantCode(t, cli.ExitOK)
	var v httpapi.QueueView
	r.json(t, &v)
	if v.Consumer.Pending != 4 || v.Stream.Messages != 4 || v.DeadLetters.Messages != 1 || v.Jobs.States[queue.StateQueued] != 4 {
		t.Errorf("queue --json: %s", r.stdout)
	}
	r = run(t, env, "queue")
	r.wantCode(t, cli.ExitOK)
	for _, want := range []string{"waiting (never delivered)", "recruit", "dead letters INGEST_DLQ"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("queue text lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run(t, env, "workers")
	r.wantCode(t, cli.ExitOK)
	if !strings.Contains(r.stdout, "no worker") {
		t.Errorf("workers with none:\n%s", r.stdout)
	}
	if err := q.PutWorker(ctx, queue.WorkerInfo{Name: "w-1", Host: "h", Concurrency: 2, StartedAt: time.Now(),
		Jobs: []queue.WorkerJob{{JobID: "j1", Domain: "recruit", FileName: "a.pkl", Attempt: 1, Phase: queue.PhaseStreaming, StartedAt: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	r = run(t, env, "workers")
	r.wantCode(t, cli.ExitOK)
	if !strings.Contains(r.stdout, "w-1") || !strings.Contains(r.stdout, "1/2 busy") || !strings.Contains(r.stdout, "j1 (recruit a.pkl, attempt 1, streaming") {
		t.Errorf("workers:\n%s", r.stdout)
	}
}

// `cancel` takes a queued job out of the queue; a finished job is one
// actionable line.
func TestCancelCommand(t *testing.T) {
	t.Parallel()
	env, ns := natsEnv(t)
	q := queuetest.OpenQueue(t, ns, queuetest.Config())
	res, err := q.Enqueue(testCtx(t), queue.Job{Domain: "recruit", FileName: "sample.pkl"})
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, env, "cancel", res.JobID)
	r.wantCode(t, cli.ExitOK)
	if !strings.Contains(r.stdout, "canceled") {
		t.Errorf("cancel:\n%s", r.stdout)
	}
	if n := queuetest.StreamMsgs(t, ns, queue.DefaultStream); n != 0 {
		t.Errorf("%d jobs left in the queue", n)
	}
	run(t, env, "cancel", res.JobID).wantCode(t, cli.ExitOK)
	if _, err := q.UpdateStatus(testCtx(t), "done", func(s *queue.Status) error { s.Domain, s.State = "recruit", queue.StateSucceeded; return nil }); err != nil {
		t.Fatal(err)
	}
	r = run(t, env, "cancel", "done")
	r.wantCode(t, cli.ExitFailure)
	if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "succeeded already") || !strings.Contains(r.stderr, "publisher status done") {
		t.Errorf("cancel of a finished job: %q", r.stderr)
	}
	r = run(t, env, "cancel", "nope")
	r.wantCode(t, cli.ExitFailure)
	if !strings.Contains(r.stderr, "no job nope; check the id") {
		t.Errorf("cancel of an unknown job: %q", r.stderr)
	}
}

// `status --follow` follows a job to its end and shows its pace; a
// failed job exits 1 with what to do.
func TestStatusFollow(t *testing.T) {
	t.Parallel()
	env, ns := natsEnv(t)
	q := queuetest.OpenQueue(t, ns, queuetest.Config())
	ctx := testCtx(t)
	put := func(id string, fn func(*queue.Status)) {
		t.Helper()
		if _, err := q.UpdateStatus(ctx, id, func(s *queue.Status) error { fn(s); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	put("followed", func(s *queue.Status) {
		s.Domain, s.FileName, s.State, s.Attempts, s.Phase = "recruit", "a.pkl", queue.StateRunning, 1, queue.PhaseStreaming
		s.RecordsTotal, s.RecordsSent, s.StartedAt, s.StreamingSince, s.PhaseSince = 100, 40, now.Add(-4*time.Second), now.Add(-2*time.Second), now.Add(-2*time.Second)
	})
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"status", "followed", "--follow"}, cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: mapEnv(env), LoadSettings: publisher.LoadCLI})
	}()
	// The first line shows the job streaming with its pace; then it
	// finishes.
	polltest.Until(t, 30*time.Second, "the streaming job's line", func() bool { return strings.Contains(stdout.String(), "running streaming") })
	put("followed", func(s *queue.Status) { s.RecordsSent = 60 })
	// Each update is shown once seen; the next waits for it, or the two
	// may reach the follower as one.
	polltest.Until(t, 30*time.Second, "the line of 60 records sent", func() bool { return strings.Contains(stdout.String(), "60/100 records sent") })
	put("followed", func(s *queue.Status) {
		s.State, s.Phase, s.RecordsSent, s.RecordsAcked, s.ChunksSent, s.FinishedAt = queue.StateSucceeded, "", 100, 100, 2, time.Now().UTC()
	})
	if code := <-done; code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "records/s") || !strings.Contains(out, "ETA") || !strings.Contains(out, "60/100 records sent") ||
		!strings.Contains(out, "succeeded: 100 of 100 records acknowledged") {
		t.Errorf("status --follow:\n%s", out)
	}
	var r result
	put("broken", func(s *queue.Status) {
		s.Domain, s.FileName, s.State, s.Attempts = "recruit", "b.pkl", queue.StateFailed, 2
		s.Error = &queue.JobError{Class: "validation", Message: "record 3: field id is null"}
	})
	r = run(t, env, "status", "broken", "--follow")
	r.wantCode(t, cli.ExitFailure)
	if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "validation: record 3") || !strings.Contains(r.stderr, "publisher inspect FILE --domain recruit") {
		t.Errorf("status --follow of a failed job: %q", r.stderr)
	}
	// A retrying job's status says why and since when.
	put("flaky", func(s *queue.Status) {
		s.Domain, s.FileName, s.State, s.Attempts = "recruit", "c.pkl", queue.StateRetrying, 2
		s.Error = &queue.JobError{Class: "server_unavailable", Message: "batch server unavailable"}
		s.History = []queue.Attempt{{Attempt: 1, Outcome: queue.OutcomeRetrying, FinishedAt: now}, {Attempt: 2, Outcome: queue.OutcomeRetrying, FinishedAt: now}}
	})
	r = run(t, env, "status", "flaky")
	r.wantCode(t, cli.ExitOK)
	if !strings.Contains(r.stdout, "attempt 2 failed: server_unavailable: batch server unavailable; retrying since") {
		t.Errorf("status of a retrying job:\n%s", r.stdout)
	}
}

// `dlq replay --all` and `dlq purge --all` act on what the filters select.
func TestDLQBulkCommands(t *testing.T) {
	t.Parallel()
	env, ns := natsEnv(t)
	q := queuetest.OpenQueue(t, ns, queuetest.Config())
	for i, class := range []string{"file_not_found", "file_not_found", "validation"} {
		if err := q.PublishDeadLetter(testCtx(t), queue.DeadLetter{JobID: fmt.Sprintf("dl-%d", i), Domain: "recruit", Subject: "ingest.jobs.recruit",
			Job: []byte(`{"file_name":"sample.pkl"}`), Error: queue.JobError{Class: class}, Reason: queue.ReasonPermanent, Attempts: 1, StreamSeq: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	run(t, env, "dlq", "replay").wantCode(t, cli.ExitUsage)
	run(t, env, "dlq", "replay", "dl-0", "--all").wantCode(t, cli.ExitUsage)
	r := run(t, env, "dlq", "replay", "--all", "--class", "file_not_found", "--since", "1h")
	r.wantCode(t, cli.ExitOK)
	if !strings.Contains(r.stdout, "2 dead letter(s) matched, 2 replayed") {
		t.Errorf("replay --all:\n%s", r.stdout)
	}
	r = run(t, env, "dlq", "purge", "--all", "--json")
	r.wantCode(t, cli.ExitOK)
	var res queue.BulkResult
	r.json(t, &res)
	if res.Matched != 1 || res.Done != 1 {
		t.Errorf("purge --all: %+v", res)
	}
	if n := queuetest.StreamMsgs(t, ns, queue.DefaultStream); n != 2 {
		t.Errorf("%d jobs queued by the replay, want 2", n)
	}
}

// Nothing listening at NATS_URL: one line naming the URL (without its
// password) and what to do.
func TestUnreachableNATS(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var stdout, stderr syncBuffer
	code := cli.Run(ctx, []string{"status", "x"}, cli.Env{Stdout: &stdout, Stderr: &stderr,
		Getenv: mapEnv(map[string]string{"NATS_URL": "nats://user:secret@127.0.0.1:1"}), LoadSettings: publisher.LoadCLI})
	if code != cli.ExitFailure {
		t.Fatalf("exit %d", code)
	}
	line := stderr.String()
	// The connection's own warning ("not reachable yet, retrying") may
	// precede the command's line: the command's is the last.
	lines := strings.Split(strings.TrimRight(line, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "publisher status: cannot reach NATS at nats://user:xxxxx@127.0.0.1:1") || !strings.Contains(last, "go run ./publisher/dev") {
		t.Errorf("stderr %q", line)
	}
	if strings.Contains(last, "secret") {
		t.Errorf("the password leaked: %q", last)
	}
}
