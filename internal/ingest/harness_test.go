package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/batchservertest"
	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/ingesttest"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// waitTimeout bounds every wait for an event; reaching it fails the test.
const waitTimeout = 60 * time.Second

// fixtureDir holds the pickle fixtures and their expected canonical JSONL.
const fixtureDir = "../pickleload/testdata/fixtures"

// Compile-time checks: the real implementations satisfy the interfaces
// the worker consumes.
var (
	_ ingest.Streamer = (*batchclient.Client)(nil)
	_ ingest.Domains  = (*domain.Registry)(nil)
	_ ingest.Objects  = (*queue.Queue)(nil)
	_ ingest.Queue    = (*queue.Queue)(nil)
	_ ingest.Conn     = (*nats.Conn)(nil)
)

// envOpts shape a test environment.
type envOpts struct {
	AckWait    time.Duration // consumer AckWait (default 30s)
	MaxDeliver int           // consumer MaxDeliver (default 5)
	FailFirst  int           // batch server: UNAVAILABLE for the first N streams
	ChunkDelay time.Duration // batch server: sleep after each chunk
	// StagingSyncInterval: batch server: sync staged chunks this often
	// (0: its default).
	StagingSyncInterval time.Duration
	// OnChunk, if set, is called by the batch server after each chunk it
	// received (it may block to hold the stream).
	OnChunk func(ingestID string, seq uint64)
	// Domains are the workers' domains (nil: the builtin ones).
	Domains *domain.Registry
}

// env is one test's world: an in-process NATS with JetStream and the queue
// topology, a reference batch server on loopback, and a data directory.
type env struct {
	t         *testing.T
	nats      *queuetest.Server
	qcfg      queue.Config
	q         *queue.Queue
	nc        *nats.Conn
	batch     *batchserver.Server
	batchAddr string
	dataDir   string
	chunks    chan string // ingest id of every chunk the batch server receives
	beforeRun func()      // if set, startWorker calls it after opening the worker's queue
	domains   *domain.Registry
	log       zerolog.Logger
	// staged, if set, is called from the batch server's ChunkStaged hook
	// (synchronously: the stream waits for it).
	staged atomic.Pointer[func(id string, chunks, records uint64)]
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{t: t, dataDir: t.TempDir(), chunks: make(chan string, 1<<16), log: testLogger(t), domains: o.Domains}
	e.nats = queuetest.StartServer(t)
	e.qcfg = queuetest.Config()
	if o.AckWait > 0 {
		e.qcfg.AckWait = o.AckWait
	}
	if o.MaxDeliver > 0 {
		e.qcfg.MaxDeliver = o.MaxDeliver
	}
	e.q = queuetest.OpenQueue(t, e.nats, e.qcfg)
	e.nc = queuetest.Connect(t, e.nats)

	bs := batchservertest.Start(t, batchserver.Config{
		FailFirst:           o.FailFirst,
		ChunkDelay:          o.ChunkDelay,
		StagingSyncInterval: o.StagingSyncInterval,
		Hooks: batchserver.Hooks{
			ChunkReceived: func(id string, seq uint64) {
				select {
				case e.chunks <- id:
				default:
				}
				if o.OnChunk != nil {
					o.OnChunk(id, seq)
				}
			},
			ChunkStaged: func(id string, chunks, records uint64) {
				if f := e.staged.Load(); f != nil {
					(*f)(id, chunks, records)
				}
			},
		},
	}, e.log.With().Str("component", "batchserver").Logger())
	e.batch, e.batchAddr = bs.Server, bs.Addr
	return e
}

// addFixture copies a fixture pickle into the data directory.
func (e *env) addFixture(name string) {
	e.t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		e.t.Fatal(err)
	}
	e.addFile(name, data)
}

func (e *env) addFile(name string, data []byte) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dataDir, name), data, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// worker is a Worker running in this process.
type worker struct {
	w    *ingest.Worker
	stop func() // cancels Run and waits for it to return
}

// startWorker runs an in-process worker with its own NATS connection and
// batch client, with quick test timings; mod may change its configuration.
// It is stopped when the test ends.
func (e *env) startWorker(name string, mod func(*ingest.WorkerConfig, *ingest.ProcessorConfig)) *worker {
	e.t.Helper()
	wcfg := ingesttest.WorkerConfig(name)
	wcfg.ShutdownTimeout = 10 * time.Second
	wcfg.FetchWait = 500 * time.Millisecond
	wcfg.StatusInterval = 50 * time.Millisecond
	pcfg := ingesttest.ProcessorConfig(e.dataDir)
	if mod != nil {
		mod(&wcfg, &pcfg)
	}
	w := ingesttest.StartWorker(e.t, e.nats, ingesttest.Config{
		Queue:     e.qcfg,
		BatchAddr: e.batchAddr,
		Worker:    wcfg,
		Processor: pcfg,
		Log:       e.log.With().Str("worker", name).Logger(),
		BeforeRun: e.beforeRun,
		Domains:   e.domainsOrNil(),
	})
	return &worker{w: w.Worker, stop: w.Stop}
}

// enqueue enqueues a job through the queue package (as the publisher does)
// and returns its id.
func (e *env) enqueue(job queue.Job) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	res, err := e.q.Enqueue(ctx, job)
	if err != nil {
		e.t.Fatalf("enqueue %+v: %v", job, err)
	}
	return res.JobID
}

// publish publishes a raw job message straight to NATS, as any client
// may; id, if not empty, goes into the Nats-Msg-Id header.
func (e *env) publish(subject, body, id string) {
	e.t.Helper()
	msg := &nats.Msg{Subject: subject, Data: []byte(body), Header: nats.Header{}}
	if id != "" {
		msg.Header.Set(queue.HeaderMsgID, id)
	}
	resp, err := e.nc.RequestMsg(msg, 10*time.Second)
	if err != nil {
		e.t.Fatalf("publish to %s: %v", subject, err)
	}
	var ack struct {
		Error *struct{ Description string } `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &ack); err != nil || ack.Error != nil {
		e.t.Fatalf("publish to %s: %s", subject, resp.Data)
	}
}

// waitStatus polls job id's status record until cond holds, failing the
// test at the deadline.
func (e *env) waitStatus(id string, cond func(queue.Status) bool) queue.Status {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last queue.Status
	for {
		s, err := e.q.GetStatus(ctx, id)
		if err == nil {
			last = s
			if cond(s) {
				return s
			}
		} else if !errors.Is(err, queue.ErrNotFound) {
			e.t.Logf("status of %s: %v", id, err)
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("timed out waiting on the status of job %s; last: %+v", id, last)
		case <-tick.C:
		}
	}
}

func finished(s queue.Status) bool {
	return s.State == queue.StateSucceeded || s.State == queue.StateFailed
}

// waitFinished waits until job id succeeded or failed and returns its
// status.
func (e *env) waitFinished(id string) queue.Status {
	e.t.Helper()
	return e.waitStatus(id, finished)
}

// waitChunk waits until the batch server receives a chunk of job id.
func (e *env) waitChunk(id string) {
	e.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case got := <-e.chunks:
			if got == id {
				return
			}
		case <-deadline:
			e.t.Fatalf("timed out waiting for a chunk of job %s", id)
		}
	}
}

// deadLetters returns the dead letters, keyed by job id.
func (e *env) deadLetters() map[string]queue.DeadLetter {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	dls, err := e.q.ListDeadLetters(ctx, "", 0)
	if err != nil {
		e.t.Fatal(err)
	}
	m := make(map[string]queue.DeadLetter, len(dls))
	for _, d := range dls {
		m[d.JobID] = d
	}
	return m
}

// domainsOrNil returns the env's domains as the worker takes them: a nil
// interface when none were given, not a nil *domain.Registry in one.
func (e *env) domainsOrNil() ingest.Domains {
	if e.domains == nil {
		return nil
	}
	return e.domains
}

// checkCommittedAs checks that job id was committed exactly once in
// domain and that the committed file equals the expected JSONL at path.
func (e *env) checkCommittedAs(domainName, id, path string) {
	e.t.Helper()
	if _, ok := e.batch.Committed(id); !ok {
		e.t.Fatalf("job %s not committed", id)
	}
	got, err := os.ReadFile(e.batch.OutputPath(domainName, id))
	if err != nil {
		e.t.Fatal(err)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := canonical.Compare(bytes.NewReader(got), bytes.NewReader(want)); err != nil {
		e.t.Errorf("job %s: committed JSONL differs from %s: %v", id, path, err)
	}
}

// checkCommitted checks that job id was committed exactly once in domain
// and that the committed file equals the fixture's expected JSONL.
func (e *env) checkCommitted(domainName, id, fixture string) {
	e.t.Helper()
	e.checkCommittedAs(domainName, id, filepath.Join(fixtureDir, fixture))
}

// testLogger logs through t while the test runs and drops lines after it
// ended (goroutines may still be stopping).
func testLogger(t *testing.T) zerolog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	return zerolog.New(w).With().Timestamp().Logger()
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

var _ io.Writer = (*testWriter)(nil)

// waitReady polls h's /readyz until its status code is code and its body
// contains want, failing the test at the deadline.
func waitReady(t *testing.T, h http.Handler, code int, want string) {
	t.Helper()
	polltest.Until(t, waitTimeout, "GET /readyz to answer "+strconv.Itoa(code)+" with "+strconv.Quote(want), func() bool {
		got, body := get(t, h, "/readyz")
		return got == code && strings.Contains(body, want)
	})
}

// metricValue returns the value of the sample line that starts with name
// (with its labels) in h's /metrics, or -1 if there is none.
func metricValue(t *testing.T, h http.Handler, name string) float64 {
	t.Helper()
	_, body := get(t, h, "/metrics")
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return v
		}
	}
	return -1
}

// get serves GET path on h and returns the status code and body.
func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}
