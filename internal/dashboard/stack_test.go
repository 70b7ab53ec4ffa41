package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/batchservertest"
	"github.com/embedstream/embedstream/internal/dashboard"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/ingesttest"
	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuemetrics"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// The real implementations satisfy the interfaces the dashboard consumes.
var (
	_ dashboard.Queue   = (*queue.Queue)(nil)
	_ dashboard.Domains = (*domain.Registry)(nil)
)

// waitTimeout bounds every wait on a job or a page.
const waitTimeout = 60 * time.Second

// fixture is a small recruit DataFrame pickle (50 records).
const fixture = "../pickleload/testdata/fixtures/recruit_small_df.pkl"

// stack is one test's publisher (API + dashboard on one HTTP server) on a
// real in-process NATS, optionally with a worker and the reference batch
// server.
type stack struct {
	nats *queuetest.Server
	q    *queue.Queue
	http *httptest.Server
	// dataDir is where the worker reads job files; the dashboard sees it
	// only when opts.publisherSeesData is set.
	dataDir string
	batch   *batchserver.Server
	index   *jobindex.Index
}

type stackOpts struct {
	token             string
	worker            bool
	publisherSeesData bool          // the dashboard and API check files in dataDir
	chunkDelay        time.Duration // the batch server sleeps this long per chunk
	chunkRecords      int           // the worker's records per chunk (0: default)
	hooks             batchserver.Hooks
}

func startStack(t *testing.T, o stackOpts) *stack {
	t.Helper()
	log := testLogger(t)
	s := &stack{nats: queuetest.StartServer(t), dataDir: t.TempDir()}
	s.q = queuetest.OpenQueue(t, s.nats, queuetest.Config())
	domains, err := domain.NewRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	pubData := ""
	if o.publisherSeesData {
		pubData = s.dataDir
	}
	// As serve does: one job index for the API and the dashboard.
	s.index = jobindex.New(s.q, jobindex.Config{}, log)
	ictx, stopIndex := context.WithCancel(context.Background())
	indexDone := make(chan error, 1)
	go func() { indexDone <- s.index.Run(ictx) }()
	t.Cleanup(func() {
		stopIndex()
		if err := <-indexDone; err != nil {
			t.Errorf("job index: %v", err)
		}
	})
	api := httpapi.New(httpapi.Config{Token: o.token, DataDir: pubData, Ready: s.q.Ready, Index: s.index}, s.q, domains, log)
	if err := api.Registry().Register(queuemetrics.New(s.q, s.index)); err != nil {
		t.Fatal(err)
	}
	dash, err := dashboard.New(dashboard.Config{Token: o.token, DataDir: pubData, RefreshInterval: 200 * time.Millisecond, Index: s.index}, s.q, domains, log)
	if err != nil {
		t.Fatal(err)
	}
	s.http = httptest.NewServer(dash.Wrap(api))
	t.Cleanup(s.http.Close)
	// As serve does before it reports ready: the index has loaded.
	polltest.Until(t, waitTimeout, "the job index to load", s.index.Ready)
	if o.worker {
		s.batch = startWorker(t, s, o)
	}
	return s
}

// startWorker runs the reference batch server and one in-process worker on
// s's NATS, resolving files in s.dataDir.
func startWorker(t *testing.T, s *stack, o stackOpts) *batchserver.Server {
	t.Helper()
	log := testLogger(t)
	bs := batchservertest.Start(t, batchserver.Config{ChunkDelay: o.chunkDelay, Hooks: o.hooks}, log)
	pcfg := ingesttest.ProcessorConfig(s.dataDir)
	pcfg.ChunkRecords = o.chunkRecords
	wcfg := ingesttest.WorkerConfig("worker-1")
	wcfg.Heartbeat = 200 * time.Millisecond // the workers page follows it closely
	ingesttest.StartWorker(t, s.nats, ingesttest.Config{
		BatchAddr: bs.Addr, Worker: wcfg, Processor: pcfg, Log: log,
	})
	return bs.Server
}

func testLogger(t *testing.T) zerolog.Logger {
	if testing.Verbose() {
		return zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
	}
	return zerolog.Nop()
}

// copyFixture copies the recruit fixture into the worker's data directory
// under name.
func (s *stack) copyFixture(t *testing.T, name string) {
	t.Helper()
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dataDir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// client is a browser-like HTTP client: it keeps cookies and does not
// follow redirects, so tests see them.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func (s *stack) client(t *testing.T) *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: s.http.URL, hc: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// answer is an HTTP answer.
type answer struct {
	status int
	header http.Header
	body   string
}

func (c *client) get(path string) answer {
	c.t.Helper()
	return c.do(http.MethodGet, path, nil, nil)
}

// post submits a form, as a browser on the same origin would.
func (c *client) post(path string, form url.Values) answer {
	c.t.Helper()
	return c.do(http.MethodPost, path, strings.NewReader(form.Encode()), http.Header{
		"Content-Type":   {"application/x-www-form-urlencoded"},
		"Sec-Fetch-Site": {"same-origin"},
	})
}

func (c *client) do(method, path string, body io.Reader, h http.Header) answer {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

// csrf returns the anti-CSRF token of the forms on the page at path.
func (c *client) csrf(path string) string {
	c.t.Helper()
	p := c.get(path)
	const marker = `name="csrf" value="`
	i := strings.Index(p.body, marker)
	if i < 0 {
		c.t.Fatalf("GET %s (%d): no csrf field in %s", path, p.status, p.body)
	}
	rest := p.body[i+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}

// waitFor polls cond until it is true or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	polltest.Until(t, waitTimeout, what, cond)
}
