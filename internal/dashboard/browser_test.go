package dashboard_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/queue"
)

// browser is one headless Chromium driven by chromedp, with a fresh
// profile, whose JavaScript confirm dialogs are accepted and recorded.
type browser struct {
	t   *testing.T
	ctx context.Context
	mu  sync.Mutex
	// dialogs are the messages of the dialogs the page opened.
	dialogs []string
}

// newBrowser starts Chromium. A missing chromium fails the test: the
// browser tests must run in CI, where deploy/test installs it.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("Debian's chromium is required for the dashboard's browser tests (apt-get install -y chromium; deploy/test installs it): %v", err)
	}
	profile, err := os.MkdirTemp("", "dashboard-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(profile) }) // best effort: Chromium may still be writing as it exits
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*waitTimeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Accept every confirm() and remember its message. The listener must not
	// call into the browser itself, so a goroutine answers the dialog.
	opened := make(chan string, 16)
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			select {
			case opened <- e.Message:
			case <-ctx.Done():
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	// The answering goroutine ends before the test does (it may report an
	// error): this cleanup runs before the ones above, cancels ctx and
	// waits for it.
	answered := make(chan struct{})
	t.Cleanup(func() {
		cancelTimeout()
		<-answered
	})
	go func() {
		defer close(answered)
		for {
			select {
			case <-ctx.Done():
				return
			case msg := <-opened:
				b.mu.Lock()
				b.dialogs = append(b.dialogs, msg)
				b.mu.Unlock()
				if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil && ctx.Err() == nil {
					t.Errorf("accept dialog %q: %v", msg, err)
				}
			}
		}
	}()
	return b
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func run[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// poll waits until the JavaScript expression is truthy.
func (b *browser) poll(what, expr string) {
	b.t.Helper()
	run(b, "wait for "+what, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingTimeout(waitTimeout), chromedp.WithPollingInterval(20*time.Millisecond)))
}

func (b *browser) location() string {
	b.t.Helper()
	return run(b, "location", chromedp.Location())
}

// enqueue fills in and submits the enqueue form, and returns the id of the
// job whose page it lands on.
func (b *browser) enqueue(base, domain, file string) string {
	b.t.Helper()
	b.do("enqueue "+file,
		chromedp.Navigate(base+"/ui/enqueue"),
		chromedp.WaitVisible(chromedp.CSS("#e-file")),
		chromedp.SetValue(chromedp.CSS("#e-domain"), domain),
		chromedp.SendKeys(chromedp.CSS("#e-file"), file),
		chromedp.Click(chromedp.CSS("form.stack button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".jobhead")),
	)
	loc := b.location()
	i := strings.Index(loc, "/ui/jobs/")
	if i < 0 {
		b.t.Fatalf("after enqueue at %s, want a job page", loc)
	}
	id, _, _ := strings.Cut(loc[i+len("/ui/jobs/"):], "?")
	return id
}

// waitState waits until the open job page shows state.
func (b *browser) waitState(state string) {
	b.t.Helper()
	b.poll("job state "+state, `document.querySelector('.jobhead')?.dataset.state === `+jsString(state))
}

func (b *browser) screenshot(dir, name string) {
	b.t.Helper()
	png := run(b, "screenshot "+name, chromedp.FullScreenshot(100))
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

func jsString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// artifactDir is a directory for screenshots that outlives the test (unlike
// t.TempDir), so a reviewer can look at them.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dashboard-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots are saved in %s", dir)
	return dir
}

// In a real browser against the whole stack: a job enqueued through the
// form runs to 100 % and succeeded, live; a job for a missing file lands in
// the dead letters, and Replay (confirmed) makes it succeed once the file
// exists; a file name carrying markup is shown as text and never runs.
func TestBrowserEndToEnd(t *testing.T) {
	// The publisher does not see the data directory (as on another host),
	// so the form accepts a missing file and the worker dead-letters it.
	// Small chunks on a slow batch server make the progress visible.
	// The batch server holds the first job's stream at its first chunk until
	// the browser has seen the job running.
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseFirst := func() { releaseOnce.Do(func() { close(release) }) }
	s := startStack(t, stackOpts{worker: true, chunkRecords: 5, chunkDelay: 30 * time.Millisecond,
		hooks: batchserver.Hooks{ChunkReceived: func(string, uint64) { <-release }}})
	t.Cleanup(releaseFirst) // after the stack's, so it runs before the stack stops

	s.copyFixture(t, "recruit.pkl")
	b := newBrowser(t)
	shots := artifactDir(t)
	base := s.http.URL

	// 1. Enqueue through the form; watch the bar reach 100 % and succeeded.
	id := b.enqueue(base, "recruit", "recruit.pkl")
	if txt := run(b, "notice", chromedp.Text(chromedp.CSS(".notice"))); txt != "Job enqueued." {
		t.Errorf("notice %q", txt)
	}
	// The page stays loaded from here on (window.__page survives), so what
	// changes on it comes from the live refresh.
	b.do("watch progress", chromedp.Evaluate[chromedp.Void](`window.__page = 1; window.__seen = [];
		document.addEventListener('dashboard:refreshed', () => {
			const h = document.querySelector('.jobhead'), p = h.querySelector('progress');
			window.__seen.push(h.dataset.state + ' ' + p.value + '/' + p.max); })`))
	b.waitState("running")
	releaseFirst()
	b.poll("progress 100 % and succeeded", `(() => {
		const h = document.querySelector('.jobhead'), p = h.querySelector('progress');
		return window.__page === 1 && h.dataset.state === 'succeeded' && p.max === 50 && p.value === p.max; })()`)
	if txt := run(b, "progress text", chromedp.Text(chromedp.CSS(".jobhead .ptext"))); !strings.Contains(txt, "50 / 50") || !strings.Contains(txt, "100") {
		t.Errorf("progress text %q, want 50 / 50 and 100 %%", txt)
	}
	t.Logf("progress values seen by the live refresh: %v", run(b, "seen", chromedp.Evaluate[[]string](`window.__seen`)))
	b.screenshot(shots, "job.png")

	// The jobs list shows it succeeded at 100 %.
	b.do("jobs list", chromedp.Navigate(base+"/ui/jobs"), chromedp.WaitVisible(chromedp.CSS(`tr[data-job="`+id+`"]`)))
	b.poll("row succeeded at 100 %", `(() => { const r = document.querySelector('tr[data-job=`+jsString(id)+`]');
		const p = r.querySelector('progress'); return r.dataset.state === 'succeeded' && p.value === p.max; })()`)

	// The jobs list follows progress live: a status record (of a job no
	// worker will see) moves from 20 of 50 to 50 of 50 while the page stays.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	synthetic := queue.NewJobID()
	setStatus := func(fn func(st *queue.Status)) {
		if _, err := s.q.UpdateStatus(ctx, synthetic, func(st *queue.Status) error { fn(st); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(func(st *queue.Status) {
		st.Domain, st.FileName, st.Source, st.Worker = "candidate", "synthetic.pkl", queue.SourceFile, "worker-x"
		st.State, st.Attempts, st.RecordsTotal, st.RecordsSent = queue.StateRunning, 1, 50, 20
		st.EnqueuedAt, st.StartedAt = time.Now(), time.Now()
	})
	synRow := `document.querySelector('tr[data-job=` + jsString(synthetic) + `]')`
	b.do("jobs of candidate", chromedp.Navigate(base+"/ui/jobs?domain=candidate"), chromedp.WaitVisible(chromedp.CSS("#live-jobs")),
		chromedp.Evaluate[chromedp.Void](`window.__page = 2`))
	b.poll("row at 40 %", `(() => { const r = `+synRow+`; if (!r) return false; const p = r.querySelector('progress');
		return r.dataset.state === 'running' && p.value === 20 && p.max === 50 && r.querySelector('.pct').textContent.startsWith('40'); })()`)
	setStatus(func(st *queue.Status) {
		st.State, st.RecordsSent, st.FinishedAt = queue.StateSucceeded, 50, time.Now()
	})
	b.poll("row at 100 % and succeeded, same page", `(() => { const r = `+synRow+`; const p = r.querySelector('progress');
		return window.__page === 2 && r.dataset.state === 'succeeded' && p.value === 50 && r.querySelector('.pct').textContent.startsWith('100'); })()`)

	// 2. A missing file: failed, in the dead letters; create it, Replay.
	missing := b.enqueue(base, "recruit", "later.pkl")
	b.waitState("failed")
	if txt := run(b, "error", chromedp.Text(chromedp.CSS(".errdd"))); !strings.Contains(txt, "file_not_found") {
		t.Errorf("failed job's error %q, want file_not_found", txt)
	}
	row := `tr[data-dlq="` + missing + `"]`
	b.do("dead letters", chromedp.Navigate(base+"/ui/dlq"), chromedp.WaitVisible(chromedp.CSS(row)))
	b.screenshot(shots, "dead-letters.png")
	s.copyFixture(t, "later.pkl")
	b.do("replay", chromedp.Click(chromedp.CSS(row+" button.primary")), chromedp.WaitVisible(chromedp.CSS(".jobhead")))
	if loc := b.location(); !strings.Contains(loc, "/ui/jobs/"+missing) {
		t.Fatalf("after replay at %s, want the job's page", loc)
	}
	b.waitState("succeeded")
	b.mu.Lock()
	dialogs := b.dialogs
	b.mu.Unlock()
	if len(dialogs) != 1 || !strings.Contains(dialogs[0], "Replay job "+missing) {
		t.Errorf("confirm dialogs %q, want one asking to replay %s", dialogs, missing)
	}
	if n := run(b, "history rows", chromedp.Evaluate[int](`document.querySelectorAll('table.history tbody tr').length`)); n != 2 {
		t.Errorf("attempt history of the replayed job has %d rows, want 2 (failed, succeeded)", n)
	}

	// 3. Markup in a file name is text, never code.
	const evil = `<img src=x onerror="window.__pwned=2"><script>window.__pwned=1</script>.pkl`
	evilID := b.enqueue(base, "recruit", evil)
	b.waitState("failed") // no such file: dead-lettered
	for _, path := range []string{"/ui/jobs/" + evilID, "/ui/jobs", "/ui/dlq", "/"} {
		b.do("open "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main")))
		b.poll("the file name as text on "+path, `Array.from(document.querySelectorAll('.file')).some(e => e.textContent === `+jsString(evil)+`)`)
		if pwned := run(b, "window.__pwned on "+path, chromedp.Evaluate[bool](`typeof window.__pwned !== 'undefined'`)); pwned {
			t.Errorf("%s: the markup in the file name ran", path)
		}
		if n := run(b, "injected elements", chromedp.Evaluate[int](`document.querySelectorAll('main img, main script').length`)); n != 0 {
			t.Errorf("%s: %d img/script elements in main", path, n)
		}
	}

	// 4. The overview counts what happened.
	b.do("overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(".cards")))
	b.poll("3 succeeded and 1 failed", `document.querySelector('[data-count=succeeded]').textContent === '3' &&
		document.querySelector('[data-count=failed]').textContent === '1'`)
	b.screenshot(shots, "overview.png")

	// 5. At phone width every page fits the screen: no sideways scrolling.
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	for _, path := range []string{"/", "/ui/jobs", "/ui/jobs/" + missing, "/ui/dlq", "/ui/enqueue"} {
		b.do("open "+path+" on a phone", chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main")))
		if w := run(b, "page width", chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`)); w > 0 {
			t.Errorf("%s at 390 px: %d px wider than the screen", path, w)
		}
	}
	b.do("phone overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(".cards")))
	b.screenshot(shots, "overview-phone.png")
}

// With API_TOKEN set, the browser is sent to the login form, gets in with
// the token, and the health endpoints answer without it.
func TestBrowserLogin(t *testing.T) {
	const token = "browser-test-token"
	s := startStack(t, stackOpts{token: token})
	b := newBrowser(t)
	base := s.http.URL

	b.do("health", chromedp.Navigate(base+"/healthz"))
	if txt := run(b, "health body", chromedp.Text(chromedp.CSS("body"))); !strings.Contains(txt, `"ok"`) {
		t.Errorf("/healthz without login: %q", txt)
	}
	b.do("open /ui/dlq", chromedp.Navigate(base+"/ui/dlq"), chromedp.WaitVisible(chromedp.CSS("#l-token")))
	if loc := b.location(); !strings.Contains(loc, "/ui/login?next=") {
		t.Fatalf("at %s, want the login form", loc)
	}
	b.do("wrong token",
		chromedp.SendKeys(chromedp.CSS("#l-token"), "nope"),
		chromedp.Click(chromedp.CSS("form.stack button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")),
	)
	b.do("log in",
		chromedp.SendKeys(chromedp.CSS("#l-token"), token),
		chromedp.Click(chromedp.CSS("form.stack button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("form.filters #f-domain")), // on the dead letters page, not the login page
	)
	b.poll("the dead letters page", `location.pathname === '/ui/dlq' && document.querySelector('h1').textContent === 'Dead letters'`)
	cookies := run(b, "document.cookie", chromedp.Evaluate[string](`document.cookie`))
	if strings.Contains(cookies, "embedstream_session") {
		t.Errorf("the session cookie is readable from JavaScript: %q", cookies)
	}
	b.do("log out", chromedp.Click(chromedp.CSS("form.logout button")), chromedp.WaitVisible(chromedp.CSS("#l-token")))
	b.do("overview after logout", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#l-token")))
}
