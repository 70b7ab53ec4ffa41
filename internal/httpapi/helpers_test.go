package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuemetrics"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// domainNames is a fixed domain list, the built-in domains' names.
type domainNames []string

func (d domainNames) Names() []string { return d }

// bundle is one test's API on a real NATS server and a real HTTP listener.
type bundle struct {
	nats    *queuetest.Server
	q       *queue.Queue
	api     *httpapi.Server
	http    *httptest.Server
	dataDir string
	token   string
	index   *jobindex.Index // nil with noIndex
}

// runIndex runs ix until the test ends.
func runIndex(t *testing.T, ix *jobindex.Index) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ix.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("job index: %v", err)
		}
	})
}

type setupOpts struct {
	token     string
	maxUpload int64
	noDataDir bool
	maxMsgs   int64 // job stream message limit (0: none)
	noIndex   bool  // no job index: GET /jobs reads the bucket per request
}

func setup(t *testing.T, o setupOpts) *bundle {
	t.Helper()
	ns := queuetest.StartServer(t)
	qcfg := queuetest.Config()
	qcfg.MaxMsgs = o.maxMsgs
	q := queuetest.OpenQueue(t, ns, qcfg)
	b := &bundle{nats: ns, q: q, token: o.token}
	if !o.noDataDir {
		b.dataDir = t.TempDir()
		writeFile(t, filepath.Join(b.dataDir, "processed_recruitment_data.pkl"), "pickle bytes")
	}
	// As serve does: a job index following the status bucket, and the
	// queue's figures on /metrics.
	var index httpapi.JobIndex
	if !o.noIndex {
		ix := jobindex.New(q, jobindex.Config{}, testLogger(t))
		runIndex(t, ix)
		index = ix
		b.index = ix
	}
	b.api = httpapi.New(httpapi.Config{
		Token:          o.token,
		DataDir:        b.dataDir,
		MaxUploadBytes: o.maxUpload,
		Ready:          q.Ready,
		Index:          index,
	}, q, domainNames{"candidate", "recruit"}, testLogger(t))
	var counts queuemetrics.Index
	if b.index != nil {
		counts = b.index
	}
	if err := b.api.Registry().Register(queuemetrics.New(q, counts)); err != nil {
		t.Fatal(err)
	}
	b.http = httptest.NewServer(b.api)
	t.Cleanup(b.http.Close)
	if b.index != nil {
		// As serve does before it reports ready: the index has loaded.
		polltest.Until(t, 20*time.Second, "the job index to load", b.index.Ready)
	}
	return b
}

func testLogger(t *testing.T) zerolog.Logger {
	if testing.Verbose() {
		return zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
	}
	return zerolog.Nop()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response body is not JSON (%v): %s", err, r.body)
	}
}

// apiErr decodes a JSON error body.
func (r response) apiErr(t *testing.T) (code, message string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	r.json(t, &e)
	if e.Error.Code == "" {
		t.Fatalf("no error code in %s", r.body)
	}
	return e.Error.Code, e.Error.Message
}

type header = map[string]string

// do sends a request with the bundle's token (if any) unless h sets
// Authorization itself.
func (b *bundle) do(t *testing.T, method, path string, body io.Reader, h header) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, b.http.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if b.token != "" {
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	for k, v := range h {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := b.http.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(path, "/metrics") {
		t.Errorf("%s %s: Content-Type %q, want application/json; body %s", method, path, ct, data)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// streamMsgs returns how many jobs the job stream holds.
func (b *bundle) streamMsgs(t *testing.T) uint64 {
	t.Helper()
	return queuetest.StreamMsgs(t, b.nats, queue.DefaultStream)
}

// waitFor polls cond until it is true or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	polltest.Until(t, timeout, what, cond)
}
