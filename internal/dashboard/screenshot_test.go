package dashboard_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/queue"
)

var screenshotPath = flag.String("screenshot", "", "write the README's dashboard screenshot (PNG, 1280 px wide) to this path; TestReadmeScreenshot runs only with it")

// TestReadmeScreenshot renders deploy/screenshots/dashboard.png:
//
//	go test ./internal/dashboard -run TestReadmeScreenshot -screenshot "$PWD/deploy/screenshots/dashboard.png"
//
// Real jobs run on the shipped samples (succeeded, running, queued, and
// failed ones in the dead letters). The chart's earlier minutes come from
// status records written by the test as if jobs had run then, since a real
// history would take ten minutes to build.
func TestReadmeScreenshot(t *testing.T) {
	if *screenshotPath == "" {
		t.Skip("renders the README screenshot only when -screenshot is given")
	}
	var (
		mu      sync.Mutex
		held    = map[string]bool{}
		release = make(chan struct{})
		once    sync.Once
	)
	s := startStack(t, stackOpts{worker: true, hooks: batchserver.Hooks{ChunkReceived: func(id string, _ uint64) {
		mu.Lock()
		hold := held[id]
		mu.Unlock()
		if hold {
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
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	// History: jobs that ran in each of the last nine minutes.
	now := time.Now()
	for i := 9; i >= 1; i-- {
		for j := range 1 + i%2 {
			start := now.Add(-time.Duration(i)*time.Minute + time.Duration(j*20)*time.Second)
			total := uint64(2500 + 900*((i+j)%4))
			dom, file := "recruit", "processed_recruitment_data.pkl"
			if (i+j)%3 == 0 {
				dom, file = "candidate", "processed_candidate_data.pkl"
			}
			if _, err := s.q.UpdateStatus(ctx, queue.NewJobID(), func(st *queue.Status) error {
				st.Domain, st.FileName, st.Source, st.State, st.Attempts = dom, file, queue.SourceFile, queue.StateSucceeded, 1
				st.RecordsTotal, st.RecordsSent, st.ChunksSent = total, total, total/500+1
				st.Worker = []string{"worker-7f9c", "worker-b21e"}[j%2]
				st.EnqueuedAt, st.StartedAt, st.FinishedAt = start.Add(-300*time.Millisecond), start, start.Add(time.Duration(2+i%3)*time.Second)
				st.History = []queue.Attempt{{Attempt: 1, Worker: st.Worker, StartedAt: st.StartedAt, FinishedAt: st.FinishedAt, Outcome: queue.StateSucceeded}}
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
	state := func(id string) string {
		st, err := s.q.GetStatus(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return st.State
	}
	finished := func(ids ...string) {
		waitFor(t, "jobs to finish", func() bool {
			for _, id := range ids {
				if st := state(id); st != queue.StateSucceeded && st != queue.StateFailed {
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
	finished(enqueue("recruit", "processed_recruitment_data.pkl", false))
	// Two jobs held by the batch server keep both worker slots busy, so a
	// third one waits in the queue.
	r1 := enqueue("recruit", "processed_recruitment_data.pkl", true)
	r2 := enqueue("candidate", "processed_candidate_data.pkl", true)
	waitFor(t, "two running jobs", func() bool { return state(r1) == queue.StateRunning && state(r2) == queue.StateRunning })
	enqueue("recruit", "processed_recruitment_data.pkl", false)

	b := newBrowser(t)
	b.do("overview", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(s.http.URL+"/"), chromedp.WaitVisible(chromedp.CSS(".cards")))
	b.poll("queue depth 1", `document.querySelector('[data-stat=pending]')?.textContent === '1'`)
	png := run(b, "screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(*screenshotPath, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", *screenshotPath)
}
