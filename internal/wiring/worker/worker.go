// Package worker is the worker's composition root: its settings ([Config],
// [Load]), their mapping onto the worker's parts, and the assembly: [New]
// builds a worker on an open queue (the local stack uses it for its
// in-process workers) and [Run] runs a whole worker process (worker/main.go
// and the benchmark's profiled worker).
package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/buildinfo"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/wiring"
)

// Name is the worker's name: WORKER_NAME, or "<hostname>-<pid>" when it is
// empty.
func Name(c Config) string {
	if c.WorkerName != "" {
		return c.WorkerName
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// parts maps the worker's settings onto the configurations of its parts:
// the run loop, the processor (and through it the dataset stage) and the
// batch client.
func parts(c Config) (ingest.WorkerConfig, ingest.ProcessorConfig, batchclient.Config) {
	w := ingest.WorkerConfig{
		Name:            Name(c),
		Concurrency:     c.Concurrency,
		AckWait:         c.AckWait,
		MaxDeliver:      c.MaxDeliver,
		BackoffMin:      c.RetryBackoffMin,
		BackoffMax:      c.RetryBackoffMax,
		RetryBudget:     c.RetryBudget,
		ShutdownTimeout: c.ShutdownTimeout,
	}
	p := ingest.ProcessorConfig{
		DataDir:      c.DataDir,
		MaxFileBytes: c.MaxFileBytes,
		ChunkRecords: c.ChunkRecords,
		ChunkBytes:   c.ChunkBytes,

		PickleDecodedFactor: c.DecodedFactor,
		PickleMaxDepth:      c.MaxDepth,
	}
	b := batchclient.Config{
		Addr:    c.BatchServerAddr,
		TLSCA:   c.BatchServerTLSCA,
		TLSCert: c.BatchServerTLSCert,
		TLSKey:  c.BatchServerTLSKey,
	}
	return w, p, b
}

// New builds a worker from its settings the way the worker binary runs one:
// a batch client dialled as c says, and a processor that reads files from
// DATA_DIR and objects from q's object store. nc is q's connection. log
// should already carry the worker's name. The caller runs the worker and
// closes the client once Run has returned.
func New(ctx context.Context, c Config, domains ingest.Domains, q *queue.Queue, nc *nats.Conn, metrics *ingest.Metrics, log zerolog.Logger) (*ingest.Worker, *batchclient.Client, error) {
	wcfg, pcfg, bcfg := parts(c)
	bc, err := batchclient.New(ctx, bcfg, log)
	if err != nil {
		return nil, nil, err
	}
	return ingest.NewWorker(wcfg, q, nc, ingest.NewProcessor(pcfg, domains, q, bc), metrics, log), bc, nil
}

// Run runs a worker process until ctx ends: health and metrics first (on
// METRICS_ADDR, before NATS is reached: /healthz answers while the worker
// connects, and /readyz says not ready until it is bound), then the
// connection to NATS, the queue, the batch client and the worker. It
// returns nil once the worker stopped after ctx ended, or what stopped it
// (e.g. a metrics address that cannot be served, bad domains).
func Run(ctx context.Context, c Config, log zerolog.Logger) error {
	c.WorkerName = Name(c) // resolved once (the host name when unset), for every part
	log = log.With().Str("worker", c.WorkerName).Logger()
	log.Info().Str("version", buildinfo.String("worker")).Msg("starting")

	domains, err := domain.NewRegistry(c.DomainsFile)
	if err != nil {
		return fmt.Errorf("load domains: %w", err)
	}
	metrics := ingest.NewMetrics()
	var current atomic.Pointer[ingest.Worker]
	var lost atomic.Pointer[error] // the NATS connection closed for good
	live := func() error {
		if err := lost.Load(); err != nil {
			return *err
		}
		return nil
	}
	ready := func() error {
		if err := live(); err != nil {
			return err
		}
		if w := current.Load(); w != nil {
			return w.Readiness()
		}
		return errors.New("starting: not connected to NATS yet")
	}

	// Health and metrics outlive the signal until the worker has stopped; a
	// server that cannot listen stops the worker.
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() {
		err := ingest.ServeHTTP(httpCtx, c.MetricsAddr, ingest.NewHandler(live, ready, metrics), log, nil)
		if err != nil {
			cancelRun()
		}
		served <- err
	}()
	werr := work(runCtx, c, domains, metrics, &current, &lost, log)
	stopHTTP()
	return errors.Join(werr, <-served)
}

// work connects to NATS and the batch server, publishes the worker in
// current for readiness, and runs it until ctx ends. A NATS refusal at
// start (queue.ErrRefused: wrong credentials, TLS) is returned at once,
// and a connection NATS closes for good while the worker runs
// (queue.ErrClosed) stops the worker and is returned (kept in lost for
// /healthz meanwhile): either way the process exits non-zero, to be
// restarted, instead of retrying forever or answering 503 forever.
func work(ctx context.Context, c Config, domains *domain.Registry, metrics *ingest.Metrics,
	current *atomic.Pointer[ingest.Worker], lost *atomic.Pointer[error], log zerolog.Logger) error {
	nc, err := queue.Connect(ctx, wiring.Conn(c.NATS), "worker "+c.WorkerName, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while still connecting: nothing to hand back
		}
		return err
	}
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	defer func() {
		if err := nc.Drain(); err != nil {
			if !errors.Is(err, nats.ErrConnectionClosed) {
				log.Warn().Err(err).Msg("nats drain failed")
			}
			nc.Close()
			return
		}
		<-closed
	}()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	queue.WatchClosed(ctx, nc, func(err error) {
		lost.Store(&err)
		log.Error().Err(err).Msg("the NATS connection was closed for good: stopping, to be restarted")
		stop(err)
	})
	q, err := queue.Open(ctx, nc, wiring.Queue(c.NATS))
	if err != nil {
		return errors.Join(fmt.Errorf("open queue: %w", err), closedErr(lost))
	}
	w, bc, err := New(ctx, c, domains, q, nc, metrics, log)
	if err != nil {
		return err
	}
	defer bc.Close()
	current.Store(w)
	if err := w.Run(ctx); err != nil {
		return errors.Join(err, closedErr(lost))
	}
	return closedErr(lost)
}

// closedErr returns the error the NATS connection was closed with for
// good, or nil.
func closedErr(lost *atomic.Pointer[error]) error {
	if err := lost.Load(); err != nil {
		return *err
	}
	return nil
}
