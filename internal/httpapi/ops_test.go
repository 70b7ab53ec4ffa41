package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/queue"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// putStatus writes a status record as a worker would.
func (b *bundle) putStatus(t *testing.T, id string, fn func(*queue.Status)) {
	t.Helper()
	if _, err := b.q.UpdateStatus(testCtx(t), id, func(s *queue.Status) error { fn(s); return nil }); err != nil {
		t.Fatal(err)
	}
}

// GET /jobs pages through every job with its cursor, newest first, and
// filters by state, domain, id, file, free text and time range; bad
// parameters are 400. With no index configured it answers the same from
// one read of the bucket.
func TestJobsListing(t *testing.T) {
	t.Parallel()
	for _, noIndex := range []bool{false, true} {
		t.Run(fmt.Sprintf("noIndex=%v", noIndex), func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{noIndex: noIndex})
			base := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
			for i := range 30 {
				b.putStatus(t, fmt.Sprintf("job-%02d", i), func(s *queue.Status) {
					s.Domain = []string{"recruit", "candidate"}[i%2]
					s.FileName = fmt.Sprintf("export_%02d.pkl", i)
					s.State = []string{queue.StateQueued, queue.StateSucceeded, queue.StateFailed}[i%3]
					s.EnqueuedAt = base.Add(time.Duration(i) * time.Minute)
				})
			}
			list := func(query string) httpapi.JobList {
				t.Helper()
				r := b.do(t, http.MethodGet, "/jobs?"+query, nil, nil)
				if r.status != http.StatusOK {
					t.Fatalf("GET /jobs?%s: %d %s", query, r.status, r.body)
				}
				var l httpapi.JobList
				r.json(t, &l)
				return l
			}
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				l := list("limit=7&cursor=" + url.QueryEscape(cursor))
				got = append(got, jobIDs(l.Jobs)...)
				if l.NextCursor == "" {
					if pages != 4 {
						t.Errorf("%d pages of 7 for 30 jobs, want 5", pages+1)
					}
					break
				}
				cursor = l.NextCursor
			}
			var want []string
			for i := 29; i >= 0; i-- {
				want = append(want, fmt.Sprintf("job-%02d", i))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("pages listed %v, want %v", got, want)
			}
			for query, wantIDs := range map[string][]string{
				"state=failed&domain=recruit": {"job-26", "job-20", "job-14", "job-08", "job-02"},
				"id=job-07":                   {"job-07"},
				"id=job-1":                    {"job-19", "job-18", "job-17", "job-16", "job-15", "job-14", "job-13", "job-12", "job-11", "job-10"},
				"file=EXPORT_2":               {"job-29", "job-28", "job-27", "job-26", "job-25", "job-24", "job-23", "job-22", "job-21", "job-20"},
				"q=_0&domain=candidate":       {"job-09", "job-07", "job-05", "job-03", "job-01"},
				"since=2026-11-25T09:05:00Z&until=2026-11-25T09:08:00Z": {"job-07", "job-06", "job-05"},
			} {
				if l := list(query); !slices.Equal(jobIDs(l.Jobs), wantIDs) {
					t.Errorf("GET /jobs?%s = %v, want %v", query, jobIDs(l.Jobs), wantIDs)
				}
			}
			for _, query := range []string{"state=done", "limit=0", "limit=1001", "since=yesterday", "cursor=garbage!", "domain=a.b"} {
				if r := b.do(t, http.MethodGet, "/jobs?"+query, nil, nil); r.status != http.StatusBadRequest {
					t.Errorf("GET /jobs?%s: %d, want 400", query, r.status)
				}
			}
		})
	}
}

// GET /jobs/{id} adds the pace and, while retrying, the retry to the
// record.
func TestJobViewPaceAndRetry(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	now := time.Now().UTC()
	b.putStatus(t, "streaming", func(s *queue.Status) {
		s.Domain, s.FileName, s.State, s.Phase = "recruit", "a.pkl", queue.StateRunning, queue.PhaseStreaming
		s.RecordsTotal, s.RecordsSent = 1000, 250
		s.StartedAt, s.StreamingSince, s.PhaseSince = now.Add(-10*time.Second), now.Add(-5*time.Second), now.Add(-5*time.Second)
	})
	var v struct {
		httpapi.JobView
		Raw map[string]any `json:"-"`
	}
	b.do(t, http.MethodGet, "/jobs/streaming", nil, nil).json(t, &v)
	if v.State != queue.StateRunning || v.Pace.Phase != queue.PhaseStreaming || v.Pace.SentPercent != 25 || v.Pace.RecordsPerSecond <= 0 ||
		v.Pace.ETASeconds == nil || v.Pace.ElapsedSeconds < 10 || v.Retry != nil {
		t.Errorf("view of a streaming job: %+v", v.JobView)
	}
	b.putStatus(t, "flaky", func(s *queue.Status) {
		s.Domain, s.FileName, s.State, s.Attempts = "recruit", "b.pkl", queue.StateRetrying, 2
		s.Error = &queue.JobError{Class: "server_unavailable", Message: "batch server unavailable"}
		s.History = []queue.Attempt{{Attempt: 1, Outcome: queue.OutcomeRetrying, FinishedAt: now.Add(-time.Minute)},
			{Attempt: 2, Outcome: queue.OutcomeRetrying, FinishedAt: now}}
	})
	r := b.do(t, http.MethodGet, "/jobs/flaky", nil, nil)
	r.json(t, &v)
	if v.Retry == nil || v.Retry.Attempt != 2 || v.Retry.Error.Class != "server_unavailable" || v.Retry.Since == nil {
		t.Errorf("view of a retrying job: %s", r.body)
	}
	if !strings.Contains(string(r.body), `"retrying_since"`) || !strings.Contains(string(r.body), `"job_id": "flaky"`) {
		t.Errorf("body %s", r.body)
	}
}

// POST /jobs/{id}/cancel: a queued job is canceled at once (200) and its
// message leaves the work queue; a finished one is 409; an unknown one 404.
func TestCancelRoute(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	r := b.do(t, http.MethodPost, seedPath, nil, nil)
	var enq httpapi.EnqueueResponse
	r.json(t, &enq)
	r = b.do(t, http.MethodPost, "/jobs/"+enq.JobID+"/cancel", nil, nil)
	var c httpapi.CancelResponse
	r.json(t, &c)
	if r.status != http.StatusOK || c.State != queue.StateCanceled || c.Canceling || c.JobID != enq.JobID {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if n := b.streamMsgs(t); n != 0 {
		t.Errorf("%d jobs left in the work queue", n)
	}
	var v httpapi.JobView
	b.do(t, http.MethodGet, "/jobs/"+enq.JobID, nil, nil).json(t, &v)
	if v.State != queue.StateCanceled {
		t.Errorf("state after cancel %s", v.State)
	}
	b.putStatus(t, "done", func(s *queue.Status) { s.Domain, s.State = "recruit", queue.StateSucceeded })
	if r := b.do(t, http.MethodPost, "/jobs/done/cancel", nil, nil); r.status != http.StatusConflict {
		t.Errorf("cancel of a finished job: %d %s", r.status, r.body)
	} else if code, _ := r.apiErr(t); code != httpapi.CodeJobFinished {
		t.Errorf("code %s", code)
	}
	if r := b.do(t, http.MethodPost, "/jobs/nope/cancel", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("cancel of an unknown job: %d", r.status)
	}
}

// GET /queue agrees with JetStream and the records; GET /workers lists
// heartbeats; GET /stats/series buckets the finished jobs; /metrics
// carries the queue's gauges.
func TestQueueWorkersSeriesAndMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	for range 3 {
		if r := b.do(t, http.MethodPost, seedPath, nil, nil); r.status != http.StatusAccepted {
			t.Fatalf("enqueue: %d %s", r.status, r.body)
		}
	}
	now := time.Now().UTC()
	b.putStatus(t, "old-success", func(s *queue.Status) {
		s.Domain, s.State, s.RecordsAcked, s.FinishedAt, s.EnqueuedAt = "candidate", queue.StateSucceeded, 120, now.Add(-2*time.Minute), now.Add(-3*time.Minute)
	})
	if err := b.q.PublishDeadLetter(testCtx(t), queue.DeadLetter{JobID: "dl1", Domain: "candidate", Error: queue.JobError{Class: "validation"}, Reason: queue.ReasonPermanent}); err != nil {
		t.Fatal(err)
	}
	var v httpapi.QueueView
	r := b.do(t, http.MethodGet, "/queue", nil, nil)
	r.json(t, &v)
	if v.Stream.Messages != 3 || v.Stream.Domains["recruit"] != 3 || v.Consumer.Pending != 3 || v.DeadLetters.Messages != 1 ||
		v.Jobs.Total != 4 || v.Jobs.States[queue.StateQueued] != 3 || v.Jobs.States[queue.StateSucceeded] != 1 ||
		v.Recent.Succeeded != 1 || v.Recent.Records != 120 || v.Throughput.Records != 120 || v.Throughput.RecordsPerSecond <= 0 {
		t.Errorf("GET /queue: %s", r.body)
	}

	if err := b.q.PutWorker(testCtx(t), queue.WorkerInfo{Name: "w1", Concurrency: 2, StartedAt: now}); err != nil {
		t.Fatal(err)
	}
	var ws httpapi.WorkerList
	b.do(t, http.MethodGet, "/workers", nil, nil).json(t, &ws)
	if len(ws.Workers) != 1 || ws.Workers[0].Name != "w1" {
		t.Errorf("GET /workers: %+v", ws)
	}

	var s jobindex.Series
	r = b.do(t, http.MethodGet, "/stats/series?since=10m&step=5m", nil, nil)
	r.json(t, &s)
	if r.status != http.StatusOK || s.StepS != 300 || len(s.Points) < 2 || s.Totals.Succeeded != 1 || s.Totals.Records != 120 {
		t.Errorf("GET /stats/series: %d %s", r.status, r.body)
	}
	for _, query := range []string{"since=1h&until=2h", "step=10s", "since=800h"} {
		if r := b.do(t, http.MethodGet, "/stats/series?"+query, nil, nil); r.status != http.StatusBadRequest {
			t.Errorf("GET /stats/series?%s: %d, want 400", query, r.status)
		}
	}

	metrics := string(b.do(t, http.MethodGet, "/metrics", nil, nil).body)
	for _, line := range []string{
		"embedstream_queue_up 1", "embedstream_queue_pending_jobs 3", "embedstream_queue_ack_pending_jobs 0",
		`embedstream_queue_stream_jobs{domain="recruit"} 3`, `embedstream_queue_dead_letters{domain="candidate"} 1`,
		`embedstream_jobs{state="queued"} 3`, `embedstream_jobs{state="succeeded"} 1`,
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

// POST /dlq/replay and /dlq/purge act on the dead letters a filter
// selects, and refuse an empty filter without all=true.
func TestDeadLettersBulk(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := testCtx(t)
	for i, class := range []string{"file_not_found", "file_not_found", "validation"} {
		dom := []string{"recruit", "candidate", "recruit"}[i]
		if err := b.q.PublishDeadLetter(ctx, queue.DeadLetter{JobID: fmt.Sprintf("dl%d", i), Domain: dom, Subject: queue.SubjectPrefix + dom,
			Job: []byte(`{"file_name":"x.pkl"}`), Error: queue.JobError{Class: class}, Reason: queue.ReasonPermanent, Attempts: 1, StreamSeq: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	if r := b.do(t, http.MethodPost, "/dlq/replay", nil, nil); r.status != http.StatusBadRequest {
		t.Errorf("replay with no filter: %d %s", r.status, r.body)
	}
	if r := b.do(t, http.MethodPost, "/dlq/replay?domain=nope", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("replay of an unknown domain: %d", r.status)
	}
	var res queue.BulkResult
	r := b.do(t, http.MethodPost, "/dlq/replay?class=file_not_found&domain=recruit", nil, nil)
	r.json(t, &res)
	if r.status != http.StatusOK || res.Matched != 1 || res.Done != 1 || b.streamMsgs(t) != 1 {
		t.Errorf("replay file_not_found in recruit: %d %s", r.status, r.body)
	}
	r = b.do(t, http.MethodPost, "/dlq/purge?all=true", nil, nil)
	r.json(t, &res)
	if r.status != http.StatusOK || res.Matched != 2 || res.Done != 2 {
		t.Errorf("purge all: %d %s", r.status, r.body)
	}
	if n, err := b.q.DeadLetterCount(ctx); err != nil || n != 0 {
		t.Errorf("%d dead letters left, %v", n, err)
	}
}
