package dashboard_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/queue"
)

// In a real browser, against a publisher and a worker: the jobs list pages
// through more jobs than one page holds and searches them; a running job
// is canceled from its page (nothing is committed); dead letters are
// replayed in bulk by error class and their jobs then succeed.
func TestBrowserOperatorControls(t *testing.T) {
	var (
		mu      sync.Mutex
		held    = map[string]chan struct{}{}
		holding = make(chan string, 4)
	)
	hold := func(id string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		ch := make(chan struct{})
		held[id] = ch
		return ch
	}
	s := startStack(t, stackOpts{worker: true, chunkRecords: 5, hooks: batchserver.Hooks{ChunkReceived: func(id string, _ uint64) {
		mu.Lock()
		ch := held[id]
		mu.Unlock()
		if ch != nil {
			select {
			case holding <- id:
			default:
			}
			<-ch
		}
	}}})
	var releases []chan struct{}
	t.Cleanup(func() {
		for _, ch := range releases {
			close(ch)
		}
	})
	s.copyFixture(t, "recruit.pkl")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	base := s.http.URL
	b := newBrowser(t)
	shots := artifactDir(t)

	// 1. More jobs than a page holds: 130 records, one of them findable.
	start := time.Now().UTC().Add(-time.Hour)
	for i := range 130 {
		file := fmt.Sprintf("export_%03d.pkl", i)
		if i == 77 {
			file = "needle_2026-11.pkl"
		}
		if _, err := s.q.UpdateStatus(ctx, fmt.Sprintf("seed-%03d", i), func(st *queue.Status) error {
			st.Domain, st.FileName, st.Source = []string{"recruit", "candidate"}[i%2], file, queue.SourceFile
			st.State, st.EnqueuedAt = []string{queue.StateSucceeded, queue.StateFailed}[i%2], start.Add(time.Duration(i)*time.Second)
			st.FinishedAt = st.EnqueuedAt.Add(time.Second)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	rowIDs := func() []string {
		return run(b, "row ids", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#live-jobs tr[data-job]')).map(r => r.dataset.job)`))
	}
	b.do("jobs, first page", chromedp.Navigate(base+"/ui/jobs"), chromedp.WaitVisible(chromedp.CSS(`a[data-page="next"]`)))
	first := rowIDs()
	if len(first) != 100 || first[0] != "seed-129" {
		t.Fatalf("first page: %d rows starting %v", len(first), first[:min(1, len(first))])
	}
	if txt := run(b, "caption", chromedp.Evaluate[string](`(document.querySelector('#live-jobs caption') || {}).textContent || ""`)); !strings.Contains(txt, "of 130 matching") {
		t.Errorf("caption %q", txt)
	}
	b.screenshot(shots, "jobs-page-1.png")
	// The pager lives in the refreshed region: follow its link as it is now.
	next := run(b, "next link", chromedp.Evaluate[string](`document.querySelector('a[data-page="next"]').href`))
	b.do("next page", chromedp.Navigate(next), chromedp.WaitVisible(chromedp.CSS(`a[data-page="first"]`)))
	second := rowIDs()
	if len(second) != 30 || second[0] != "seed-029" || second[29] != "seed-000" {
		t.Fatalf("second page: %d rows %v", len(second), second)
	}
	for _, id := range second {
		if slices.Contains(first, id) {
			t.Fatalf("%s on both pages", id)
		}
	}
	if n := run(b, "next links on the last page", chromedp.Evaluate[int](`document.querySelectorAll('a[data-page="next"]').length`)); n != 0 {
		t.Errorf("the last page links to a next one")
	}
	// The live refresh keeps the page.
	b.do("mark", chromedp.Evaluate[chromedp.Void](`window.__page = 'second'; window.__refreshes = 0;
		document.addEventListener('dashboard:refreshed', () => window.__refreshes++)`))
	b.poll("two refreshes of the second page", `window.__refreshes >= 2`)
	if got := rowIDs(); !slices.Equal(got, second) || !run(b, "same page", chromedp.Evaluate[bool](`window.__page === 'second'`)) {
		t.Errorf("after a refresh the page shows %v", got)
	}

	// 2. Search by file name and by state.
	b.do("search", chromedp.Navigate(base+"/ui/jobs"), chromedp.WaitVisible(chromedp.CSS("#f-q")),
		chromedp.SendKeys(chromedp.CSS("#f-q"), "NEEDLE"), chromedp.Click(chromedp.CSS("form.search button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#clear-search"))) // only on a filtered list
	if got := rowIDs(); !slices.Equal(got, []string{"seed-077"}) {
		t.Errorf("search for NEEDLE: %v", got)
	}
	b.screenshot(shots, "jobs-search.png")
	b.do("state filter", chromedp.Navigate(base+"/ui/jobs?state=failed&domain=candidate&limit=5"), chromedp.WaitVisible(chromedp.CSS("#live-jobs")))
	if got := rowIDs(); !slices.Equal(got, []string{"seed-129", "seed-127", "seed-125", "seed-123", "seed-121"}) {
		t.Errorf("failed candidate jobs: %v", got)
	}

	// 3. Cancel a running job from its page: nothing is committed.
	id := queue.NewJobID()
	releases = append(releases, hold(id))
	if _, err := s.q.Enqueue(ctx, queue.Job{ID: id, Domain: "recruit", FileName: "recruit.pkl"}); err != nil {
		t.Fatal(err)
	}
	<-holding
	b.do("job page", chromedp.Navigate(base+"/ui/jobs/"+id), chromedp.WaitVisible(chromedp.CSS("#cancel-job")))
	b.waitState("running")
	b.screenshot(shots, "job-running.png")
	// The button lives in the refreshed region: click it as it is now.
	b.do("cancel", chromedp.Evaluate[chromedp.Void](`document.getElementById('cancel-job').click()`), chromedp.WaitVisible(chromedp.CSS(".notice")))
	b.waitState("canceled")
	if txt := run(b, "history", chromedp.Evaluate[string](`(document.querySelector('table.history') || {}).textContent || ""`)); !strings.Contains(txt, "canceled") {
		t.Errorf("history after cancel: %q", txt)
	}
	if _, ok := s.batch.Committed(id); ok {
		t.Error("the canceled job was committed")
	}

	// 4. Bulk replay by error class: three jobs for missing files fail;
	// once the files exist, one replay brings them all back.
	var missing []string
	for i := range 3 {
		res, err := s.q.Enqueue(ctx, queue.Job{Domain: "recruit", FileName: fmt.Sprintf("later_%d.pkl", i)})
		if err != nil {
			t.Fatal(err)
		}
		missing = append(missing, res.JobID)
	}
	for _, id := range missing {
		waitFor(t, "job "+id+" to fail", func() bool {
			st, err := s.q.GetStatus(ctx, id)
			return err == nil && st.State == queue.StateFailed
		})
	}
	for i := range 3 {
		s.copyFixture(t, fmt.Sprintf("later_%d.pkl", i))
	}
	b.do("dead letters", chromedp.Navigate(base+"/ui/dlq"), chromedp.WaitVisible(chromedp.CSS("#bulk-replay")),
		chromedp.SetValue(chromedp.CSS("#b-class"), "file_not_found"), chromedp.SetValue(chromedp.CSS("#b-domain"), "recruit"))
	b.screenshot(shots, "dead-letters-bulk.png")
	b.do("bulk replay", chromedp.Click(chromedp.CSS("#bulk-replay")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if txt := run(b, "notice", chromedp.Text(chromedp.CSS(".notice"))); !strings.Contains(txt, "3 dead letter(s) replayed") {
		t.Errorf("notice after the bulk replay: %q", txt)
	}
	for _, id := range missing {
		waitFor(t, "replayed job "+id+" to succeed", func() bool {
			st, err := s.q.GetStatus(ctx, id)
			return err == nil && st.State == queue.StateSucceeded && st.Attempts == 2 && len(st.History) == 2
		})
	}
	b.mu.Lock()
	dialogs := slices.Clone(b.dialogs)
	b.mu.Unlock()
	if len(dialogs) != 2 || !strings.HasPrefix(dialogs[0], "Cancel job "+id) || !strings.HasPrefix(dialogs[1], "Replay every dead letter") {
		t.Errorf("confirm dialogs %q", dialogs)
	}
	if n, err := s.q.DeadLetterCount(ctx); err != nil || n != 0 {
		t.Errorf("%d dead letters left (%v)", n, err)
	}

	// 5. The queue and workers pages, and the overview's chart, show it.
	b.do("queue page", chromedp.Navigate(base+"/ui/queue"), chromedp.WaitVisible(chromedp.CSS(`tr[data-domain="recruit"]`)))
	b.screenshot(shots, "queue.png")
	b.do("workers page", chromedp.Navigate(base+"/ui/workers"), chromedp.WaitVisible(chromedp.CSS(`tr[data-worker="worker-1"]`)))
	b.screenshot(shots, "workers.png")
	b.do("overview", chromedp.Navigate(base+"/?range=6h"), chromedp.WaitVisible(chromedp.CSS("figure.chart svg")))
	if n := run(b, "chart bars", chromedp.Evaluate[int](`document.querySelectorAll('figure.chart rect').length`)); n == 0 {
		t.Error("the overview's charts have no bars")
	}
	if n := run(b, "axis labels", chromedp.Evaluate[int](`document.querySelectorAll('figure.chart text.xlabel').length`)); n == 0 {
		t.Error("the overview's charts have no time axis")
	}
	b.screenshot(shots, "overview.png")

	// At phone width the new pages fit the screen.
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	for _, path := range []string{"/ui/queue", "/ui/workers", "/ui/jobs?q=needle", "/ui/dlq", "/ui/jobs/" + id} {
		b.do("open "+path+" on a phone", chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main")))
		if w := run(b, "page width", chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`)); w > 0 {
			t.Errorf("%s at 390 px: %d px wider than the screen", path, w)
		}
	}
}
