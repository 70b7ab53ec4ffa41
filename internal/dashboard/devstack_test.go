package dashboard_test

import (
	"context"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/embedstream/embedstream/internal/wiring/dev"
)

// The dashboard mounted on the local stack (publisher/dev: embedded NATS,
// batch server, workers, API), as its composition root wires it: a job
// enqueued in the browser succeeds, and the API answers beside it.
func TestBrowserOnDevStack(t *testing.T) {
	dataDir, work := t.TempDir(), t.TempDir()
	st := &stack{dataDir: dataDir}
	st.copyFixture(t, "processed_recruitment_data.pkl")
	cfg, err := dev.Load(flag.NewFlagSet("dev", flag.ContinueOnError), []string{
		"--http-addr", "127.0.0.1:0", "--nats-port", "-1", "--workers", "1",
		"--nats-dir", filepath.Join(work, "nats"), "--batch-out", filepath.Join(work, "batch"),
		"--data-dir", dataDir,
	}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := testLogger(t)
	local, err := dev.Start(ctx, cfg, log, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := local.Wait(); err != nil {
			t.Errorf("local stack: %v", err)
		}
	})
	base := "http://" + local.HTTPAddr().String()

	b := newBrowser(t)
	b.enqueue(base, "recruit", "processed_recruitment_data.pkl")
	b.poll("succeeded at 100 %", `(() => { const h = document.querySelector('.jobhead'), p = h.querySelector('progress');
		return h.dataset.state === 'succeeded' && p.max === 50 && p.value === 50; })()`)
	b.do("health", chromedp.Navigate(base+"/healthz"))
	if txt := run(b, "health body", chromedp.Text(chromedp.CSS("body"))); !strings.Contains(txt, `"ok"`) {
		t.Errorf("/healthz beside the dashboard: %q", txt)
	}
}
