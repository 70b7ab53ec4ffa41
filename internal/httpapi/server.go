package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/queue"
)

// Queue is what the API needs from the job queue; *queue.Queue implements
// it. Its methods return the queue package's sentinels (queue.ErrNotFound,
// queue.ErrQueueFull, queue.ErrUnavailable), which the API maps onto status
// codes.
type Queue interface {
	Enqueue(ctx context.Context, job queue.Job) (queue.EnqueueResult, error)
	GetStatus(ctx context.Context, id string) (queue.Status, error)
	ListDeadLetters(ctx context.Context, domain string, limit int) ([]queue.DeadLetter, error)
	ReplayDeadLetter(ctx context.Context, jobID string) (queue.EnqueueResult, error)
	DeleteDeadLetter(ctx context.Context, jobID string) error
	PutFile(ctx context.Context, name string, r io.Reader) (queue.FileInfo, error)
	// CancelJob cancels a job (removed from the queue, or stopped by its
	// worker).
	CancelJob(ctx context.Context, jobID string) (queue.CancelResult, error)
	// ReplayDeadLetters and PurgeDeadLetters act on every dead letter a
	// filter selects.
	ReplayDeadLetters(ctx context.Context, f queue.DeadLetterFilter) (queue.BulkResult, error)
	PurgeDeadLetters(ctx context.Context, f queue.DeadLetterFilter) (queue.BulkResult, error)
	// Info reads the queue's figures from JetStream (streams, consumer).
	Info(ctx context.Context) (queue.QueueInfo, error)
	// ListWorkers reads the workers' heartbeats.
	ListWorkers(ctx context.Context) ([]queue.WorkerInfo, error)
	// The job status bucket's watch and state, which a [JobIndex] reads
	// (and, without one, a one-shot index per request).
	jobindex.Source
}

// JobIndex answers listings, counts and series of jobs from an index of
// the status records kept current by a watch; *jobindex.Index implements
// it. Every call first waits until the index holds what JetStream stored
// before it (Sync).
type JobIndex interface {
	Sync(ctx context.Context) error
	List(ctx context.Context, q jobindex.Query) (jobindex.Page, error)
	Counts(ctx context.Context) (jobindex.Counts, error)
	Series(ctx context.Context, from, to time.Time, step time.Duration) (jobindex.Series, error)
}

// Domains lists the domains jobs may name; *domain.Registry implements it.
type Domains interface {
	Names() []string
}

// DefaultAddr is the address the publisher serves the API on when not told
// otherwise (HTTP_ADDR), and its healthcheck's default target.
const DefaultAddr = ":8000"

// DefaultMaxUploadBytes bounds a PUT /files body when [Config] does not
// (MAX_UPLOAD_BYTES defaults to it).
const DefaultMaxUploadBytes int64 = 4 << 30

// DefaultAllowedExt returns the file extensions a job or upload may name
// when none are set (ALLOWED_EXTENSIONS defaults to them): those data
// teams give pickles (.pkl, .pickle, .joblib), their compressed forms as
// pandas writes them (.gz, .bz2, .xz, .zst, .zip, .tar, .tgz: the last
// extension of "x.pkl.gz") and NumPy's (.npy, .npz). The name only admits
// a file: the worker reads it by its content (internal/container), so a
// gzip-compressed pickle named .pkl is read too. Each call returns a new
// slice.
func DefaultAllowedExt() []string {
	return []string{".pkl", ".pickle", ".joblib", ".gz", ".bz2", ".xz", ".zst", ".zip", ".tar", ".tgz", ".npy", ".npz"}
}

// Config tunes a [Server]. Zero values take the defaults named on each field.
type Config struct {
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every route but /healthz and /readyz.
	Token string
	// DataDir is the workers' data directory as the publisher sees it.
	// When it names an existing directory, a job for a missing file is
	// refused with 422 and names resolving outside it with 400; when it is
	// empty or not visible here, those checks are left to the worker.
	DataDir string
	// AllowedExt lists the file extensions a job or upload may name
	// (default [DefaultAllowedExt]).
	AllowedExt []string
	// MaxUploadBytes bounds a PUT /files body (default
	// [DefaultMaxUploadBytes], 4 GiB).
	MaxUploadBytes int64
	// MaxBodyBytes bounds a JSON request body (default 64 KiB).
	MaxBodyBytes int64
	// RequestTimeout bounds each call into the queue (default 10s); an
	// upload gets this long plus the time its body takes to arrive.
	RequestTimeout time.Duration
	// ReadTimeout bounds how long a request's body may take to arrive
	// (default 30s), so a client trickling a small JSON body cannot hold
	// a connection; a PUT /files upload is exempt and takes as long as
	// its body needs. A body late past it is answered 408.
	ReadTimeout time.Duration
	// Ready reports readiness for /readyz: nil when NATS is connected and
	// the job stream exists. A nil Ready always reports ready.
	Ready func(ctx context.Context) error
	// Index answers GET /jobs, the counts of GET /queue and GET
	// /stats/series; the publisher runs one (jobindex.Index.Run), and
	// /readyz says not ready until it loaded (when it has a Ready method).
	// Nil:
	// each such request reads the whole status bucket once
	// (jobindex.Load), a cost that grows with retention: for tests and
	// tools only.
	Index JobIndex
}

func (c *Config) setDefaults() {
	if len(c.AllowedExt) == 0 {
		c.AllowedExt = DefaultAllowedExt()
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 30 * time.Second
	}
}

// Server is the HTTP API. It is an [http.Handler]; [Server.Serve] runs it on
// a listener with graceful shutdown.
type Server struct {
	cfg     Config
	q       Queue
	domains Domains
	log     zerolog.Logger
	mux     *http.ServeMux
	metrics *metrics
	handler http.Handler
}

// New builds the API over q and domains. It does no I/O.
func New(cfg Config, q Queue, domains Domains, log zerolog.Logger) *Server {
	cfg.setDefaults()
	s := &Server{
		cfg:     cfg,
		q:       q,
		domains: domains,
		log:     log,
		mux:     http.NewServeMux(),
		metrics: newMetrics(),
	}
	s.routes()
	s.handler = s.observe(crossOrigin(s.authenticate(http.HandlerFunc(s.dispatch))))
	return s
}

// Routes are the mux patterns, also used as the "route" metric label.
const (
	routeIngest    = "POST /data/ingest/{domain}"
	routeJob       = "GET /jobs/{id}"
	routeJobs      = "GET /jobs"
	routeFile      = "PUT /files/{name}"
	routeCancel    = "POST /jobs/{id}/cancel"
	routeQueue     = "GET /queue"
	routeWorkers   = "GET /workers"
	routeSeries    = "GET /stats/series"
	routeDLQ       = "GET /dlq"
	routeReplay    = "POST /dlq/{id}/replay"
	routeDLQDel    = "DELETE /dlq/{id}"
	routeReplayAll = "POST /dlq/replay"
	routePurgeAll  = "POST /dlq/purge"
	routeHealthz   = "GET /healthz"
	routeReadyz    = "GET /readyz"
	routeMetrics   = "GET /metrics"
	routeNotFound  = "unmatched"
)

func (s *Server) routes() {
	s.mux.Handle(routeIngest, s.api(s.handleIngest))
	s.mux.Handle(routeJob, s.api(s.handleJob))
	s.mux.Handle(routeJobs, s.api(s.handleJobs))
	s.mux.Handle(routeFile, s.api(s.handlePutFile))
	s.mux.Handle(routeCancel, s.api(s.handleCancel))
	s.mux.Handle(routeQueue, s.api(s.handleQueue))
	s.mux.Handle(routeWorkers, s.api(s.handleWorkers))
	s.mux.Handle(routeSeries, s.api(s.handleSeries))
	s.mux.Handle(routeReplayAll, s.api(s.handleDLQBulk(bulkReplay)))
	s.mux.Handle(routePurgeAll, s.api(s.handleDLQBulk(bulkPurge)))
	s.mux.Handle(routeDLQ, s.api(s.handleDLQList))
	s.mux.Handle(routeReplay, s.api(s.handleDLQReplay))
	s.mux.Handle(routeDLQDel, s.api(s.handleDLQDelete))
	s.mux.Handle(routeHealthz, s.api(s.handleHealthz))
	s.mux.Handle(routeReadyz, s.api(s.handleReadyz))
	s.mux.Handle(routeMetrics, s.metrics.handler())
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// Registry returns the Prometheus registry behind /metrics, so a process can
// add its own collectors.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// Metrics returns the API's own metrics (requests, their duration, jobs
// enqueued) as one collector, without the Go and process ones: what the
// deployment checks read the metric names from.
func (s *Server) Metrics() prometheus.Collector { return s.metrics }

// shutdownGrace bounds how long Serve waits for in-flight requests.
const shutdownGrace = 15 * time.Second

// Serve serves the API on lis until ctx is cancelled, then shuts down
// gracefully: it stops accepting, lets in-flight requests finish (for up to
// 15 s) and returns nil. Any other server failure is returned.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	return s.ServeHandler(ctx, lis, s)
}

// ServeHandler is [Server.Serve] for a handler that wraps the API (e.g. the
// dashboard mounted beside it), with the same timeouts, logging and
// graceful shutdown.
func (s *Server) ServeHandler(ctx context.Context, lis net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          newStdLogger(s.log),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return fmt.Errorf("httpapi: serve %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("httpapi: shutdown: %w", err)
	}
	return nil
}
