package dashboard_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/queue"
)

var screenshotDir = flag.String("screenshots", "", "write the README's dashboard screenshots (PNG, 1280 px wide) into this directory; TestReadmeScreenshot runs only with it")

// TestReadmeScreenshot renders the README's screenshots into
// deploy/screenshots:
//
//	go test ./internal/dashboard -run TestReadmeScreenshot -screenshots "$PWD/deploy/screenshots"
//
// dashboard.png (the overview), jobs.png (a search, paged), job.png (a job
// whose records are all sent, waiting for the batch server to commit), queue.png, workers.png and dead-letters.png. Real jobs run
// on the shipped samples (succeeded, running, queued, and failed ones in
// the dead letters). The charts' earlier minutes come from status records
// written by the test as if jobs had finished then, since a real hour of
// history would take an hour to build.
func TestReadmeScreenshot(t *testing.T) {
	if *screenshotDir == "" {
		t.Skip("renders the README screenshots only when -screenshots is given")
	}
	var (
		mu      sync.Mutex
		held    = map[string]bool{}
		release = make(chan struct{})
		once    sync.Once
	)
	s := startStack(t, stackOpts{worker: true, chunkRecords: 500, hooks: batchserver.Hooks{ChunkReceived: func(id string, seq uint64) {
		mu.Lock()
		hold := held[id]
		mu.Unlock()
		if hold && seq >= 2 {
			<-release
		}
	}}})
	// Registered after the stack, so it runs before the stack's cleanup waits
	// for the batch server to stop.
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	for _, name := range []string{"processed_recruitment_data.pkl", "processed_candidate_data.pkl"} {
		data, err := os.ReadFile(filepath.Join("../../data", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.dataDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.dataDir, "export_2026-11.pkl"), []byte("not a pickle"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitTimeout)
	defer cancel()

	// History: jobs that finished over the last hour, a few of them after
	// a retried attempt, a few failed.
	now := time.Now().UTC()
	for i := 58; i >= 1; i-- {
		for j := range 1 + (i*7)%3 {
			start := now.Add(-time.Duration(i)*time.Minute + time.Duration(j*17)*time.Second)
			total := uint64(2500 + 900*((i+j)%4))
			dom, file := "recruit", fmt.Sprintf("recruit_2026-11-%02d_%02d.pkl", 1+i%28, j)
			if (i+j)%3 == 0 {
				dom, file = "candidate", fmt.Sprintf("candidates_2026-11-%02d.pkl", 1+i%28)
			}
			state := queue.StateSucceeded
			if (i*j)%11 == 5 {
				state = queue.StateFailed
			}
			if _, err := s.q.UpdateStatus(ctx, queue.NewJobID(), func(st *queue.Status) error {
				st.Domain, st.FileName, st.Source, st.State, st.Attempts = dom, file, queue.SourceFile, state, 1
				st.RecordsTotal, st.RecordsSent, st.ChunksSent = total, total, total/500+1
				st.Worker = []string{"worker-7f9c", "worker-b21e"}[j%2]
				st.EnqueuedAt, st.StartedAt, st.FinishedAt = start.Add(-300*time.Millisecond), start, start.Add(time.Duration(2+i%3)*time.Second)
				st.StreamingSince = start.Add(400 * time.Millisecond)
				if i%9 == 4 {
					st.Attempts = 2
					st.History = append(st.History, queue.Attempt{Attempt: 1, Worker: st.Worker, StartedAt: start.Add(-time.Minute), FinishedAt: start.Add(-50 * time.Second),
						Outcome: queue.OutcomeRetrying, Error: &queue.JobError{Class: "server_unavailable", Message: "batch server unavailable"}})
				}
				if state == queue.StateSucceeded {
					st.RecordsAcked = total
				} else {
					st.RecordsSent, st.RecordsAcked = 0, 0
					st.Error = &queue.JobError{Class: "validation", Message: "record 12: field \"embedding\" has 383 values, want 384", Permanent: true}
				}
				st.History = append(st.History, queue.Attempt{Attempt: st.Attempts, Worker: st.Worker, StartedAt: st.StartedAt, FinishedAt: st.FinishedAt, Outcome: state, Error: st.Error})
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}

	enqueue := func(dom, file string, hold bool) string {
		id := queue.NewJobID()
		mu.Lock()
		held[id] = hold
		mu.Unlock()
		if _, err := s.q.Enqueue(ctx, queue.Job{ID: id, Domain: dom, FileName: file}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	state := func(id string) queue.Status {
		st, err := s.q.GetStatus(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	finished := func(ids ...string) {
		waitFor(t, "jobs to finish", func() bool {
			for _, id := range ids {
				if !queue.Finished(state(id).State) {
					return false
				}
			}
			return true
		})
	}
	finished(enqueue("candidate", "processed_candidate_data.pkl", false))
	finished(enqueue("recruit", "processed_recruitment_data.pkl", false))
	finished(enqueue("recruit", "export_2026-11.pkl", false))
	finished(enqueue("candidate", "candidates_2026-11-24.pkl", false))
	finished(enqueue("recruit", "recruit_2026-11-30.pkl", false))
	// Two jobs held by the batch server mid-stream keep both worker slots
	// busy, so a third one waits in the queue.
	r1 := enqueue("recruit", "processed_recruitment_data.pkl", true)
	r2 := enqueue("candidate", "processed_candidate_data.pkl", true)
	// The samples fit gRPC's flow-control windows: the worker hands every
	// chunk to the stream and waits for the held batch server (committing).
	waitFor(t, "two jobs waiting for the batch server", func() bool {
		return state(r1).Phase == queue.PhaseCommitting && state(r2).Phase == queue.PhaseCommitting
	})
	enqueue("recruit", "processed_recruitment_data.pkl", false)

	b := newBrowser(t)
	shoot := func(name, path, ready string) {
		t.Helper()
		b.do(name, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(s.http.URL+path), chromedp.WaitVisible(chromedp.CSS(ready)))
		png := run(b, "screenshot "+name, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(*screenshotDir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", filepath.Join(*screenshotDir, name))
	}
	b.do("overview", chromedp.Navigate(s.http.URL+"/"), chromedp.WaitVisible(chromedp.CSS(".cards")))
	b.poll("queue depth 1 and two busy slots", `document.querySelector('[data-stat=pending]')?.textContent === '1' &&
		document.querySelector('[data-stat=slots-busy]')?.textContent === '2'`)
	shoot("dashboard.png", "/", "figure.chart svg")
	shoot("jobs.png", "/ui/jobs?domain=recruit&since=2h&limit=12", `a[data-page="next"]`)
	shoot("job.png", "/ui/jobs/"+r1, `.jobhead[data-phase="committing"]`)
	shoot("queue.png", "/ui/queue", `tr[data-domain="recruit"]`)
	shoot("workers.png", "/ui/workers", `tr[data-worker="worker-1"] .wjob`)
	shoot("dead-letters.png", "/ui/dlq", "#bulk-replay")
}
