package dashboard_test

import (
	"context"
	"flag"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/dashboard"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/localstack"
	"github.com/embedstream/embedstream/internal/queue"
)

// The dashboard mounted on `publisher dev`'s local stack (embedded NATS,
// batch server, workers, API), as the publisher wires it: a job enqueued
// in the browser succeeds, and the API answers beside it.
func TestBrowserOnDevStack(t *testing.T) {
	dataDir, work := t.TempDir(), t.TempDir()
	st := &stack{dataDir: dataDir}
	st.copyFixture(t, "processed_recruitment_data.pkl")
	cfg, err := config.LoadDev(flag.NewFlagSet("dev", flag.ContinueOnError), []string{
		"--http-addr", "127.0.0.1:0", "--nats-port", "-1", "--workers", "1",
		"--nats-dir", filepath.Join(work, "nats"), "--batch-out", filepath.Join(work, "batch"),
		"--data-dir", dataDir,
	}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := testLogger(t)
	dev, err := localstack.Start(ctx, cfg, log, localstack.Options{
		Handler: func(api http.Handler, q *queue.Queue, domains *domain.Registry, pub config.Publisher) (http.Handler, error) {
			dash, err := dashboard.New(dashboard.ConfigFrom(pub), q, domains, log)
			if err != nil {
				return nil, err
			}
			return dash.Wrap(api), nil
		},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := dev.Wait(); err != nil {
			t.Errorf("local stack: %v", err)
		}
	})
	base := "http://" + dev.HTTPAddr().String()

	b := newBrowser(t)
	b.enqueue(base, "recruit", "processed_recruitment_data.pkl")
	b.poll("succeeded at 100 %", `(() => { const h = document.querySelector('.jobhead'), p = h.querySelector('progress');
		return h.dataset.state === 'succeeded' && p.max === 50 && p.value === 50; })()`)
	b.do("health", chromedp.Navigate(base+"/healthz"))
	if txt := run(b, "health body", chromedp.Text(chromedp.CSS("body"))); !strings.Contains(txt, `"ok"`) {
		t.Errorf("/healthz beside the dashboard: %q", txt)
	}
}
