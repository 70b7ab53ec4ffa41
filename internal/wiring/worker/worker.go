// Package worker is the worker's composition root: its settings ([Config],
// [Load]), their mapping onto the worker's parts, and the assembly: [New]
// builds a worker on an open queue (the local stack uses it for its
// in-process workers) and [Run] runs a whole worker process (worker/main.go
// and the benchmark's profiled worker), with its pull server
// (internal/pull) when PULL_ADDR is set.
package worker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/buildinfo"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/pull"
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
	return partsWith(c, Memory(c, os.Getenv))
}

// partsWith is parts with the memory plan given.
func partsWith(c Config, mem MemoryPlan) (ingest.WorkerConfig, ingest.ProcessorConfig, batchclient.Config) {
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
		MemoryBudget:        mem.JobBudget,
		BudgetAdvice:        BudgetAdvice,
		ScratchDir:          c.ScratchDir,
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
// connects, and /readyz says not ready until it is bound), the pull server
// when PULL_ADDR is set (also before NATS: it serves files from DATA_DIR at
// once, and objects once the queue is open), then the connection to NATS,
// the queue, the batch client and the worker. When ctx ends, the jobs and
// the pulls drain side by side, each within SHUTDOWN_TIMEOUT. It returns
// nil once the worker stopped after ctx ended, or what stopped it (e.g. a
// metrics or pull address that cannot be served, bad domains).
func Run(ctx context.Context, c Config, log zerolog.Logger) error {
	c.WorkerName = Name(c) // resolved once (the host name when unset), for every part
	log = log.With().Str("worker", c.WorkerName).Logger()
	log.Info().Str("version", buildinfo.String("worker")).Msg("starting")
	mem := Memory(c, os.Getenv)
	mem.Apply()
	log.Info().Int64("memory_limit", mem.Limit).Str("memory_limit_from", mem.From).Int("slots", mem.Slots).
		Int64("job_memory_budget", mem.JobBudget).Int64("go_memory_limit", mem.GoLimit).Msg("memory")
	if err := prepareScratch(c.ScratchDir, log); err != nil {
		return err
	}

	domains, err := domain.NewRegistry(c.DomainsFile)
	if err != nil {
		return fmt.Errorf("load domains: %w", err)
	}
	metrics := ingest.NewMetrics()
	if err := metrics.Registry().Register(buildinfo.Collector("worker")); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
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
	var objects atomic.Pointer[queue.Queue] // the pull server's object store, once open
	pulled := make(chan error, 1)
	if c.PullAddr == "" {
		pulled <- nil
	} else {
		ps, lis, err := newPull(c, domains, &objects, metrics, log)
		if err != nil {
			return err
		}
		go func() {
			err := ps.Serve(runCtx, lis)
			if err != nil {
				cancelRun()
			}
			pulled <- err
		}()
	}
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() {
		err := ingest.ServeHTTP(httpCtx, c.MetricsAddr, ingest.NewHandler(live, ready, metrics), log, nil)
		if err != nil {
			cancelRun()
		}
		served <- err
	}()
	werr := work(runCtx, c, domains, metrics, &current, &objects, &lost, log)
	cancelRun()      // work failed, or ctx ended: the pull server stops too
	perr := <-pulled // the pulls drain alongside the jobs
	stopHTTP()
	return errors.Join(werr, perr, <-served)
}

// prepareScratch checks that the scratch directory can be written and
// removes the scratch files a killed worker left there; it warns when the
// directory is a tmpfs (spooled files would be memory, not page cache).
func prepareScratch(dir string, log zerolog.Logger) error {
	if dir == "" {
		dir = os.TempDir()
	}
	n, err := dataset.CleanScratch(dir)
	if err != nil {
		return fmt.Errorf("SCRATCH_DIR %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".embedstream-probe-*")
	if err != nil {
		return fmt.Errorf("SCRATCH_DIR %s cannot be written: %w", dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	ev := log.Info()
	if onTmpfs(dir) {
		ev = log.Warn().Str("advice", "objects and unwrapped containers spooled there count as memory: point SCRATCH_DIR at a disk")
	}
	ev.Str("scratch_dir", dir).Int("leftovers_removed", n).Bool("tmpfs", onTmpfs(dir)).Msg("scratch directory")
	return nil
}

// newPull builds the pull server from c and listens on PULL_ADDR. Its
// dataset stage reads DATA_DIR and, once work has opened the queue, its
// object store; its metrics join the worker's.
func newPull(c Config, domains *domain.Registry, objects *atomic.Pointer[queue.Queue], metrics *ingest.Metrics, log zerolog.Logger) (*pull.Server, net.Listener, error) {
	tc, err := pull.LoadTLS(c.PullTLSCert, c.PullTLSKey, c.PullTLSClientCA)
	if err != nil {
		return nil, nil, err
	}
	pm := pull.NewMetrics()
	if err := pm.Register(metrics.Registry()); err != nil {
		return nil, nil, fmt.Errorf("register pull metrics: %w", err)
	}
	loader := dataset.NewLoader(dataset.Config{
		DataDir:    c.DataDir,
		Objects:    pullObjects{objects},
		ScratchDir: c.ScratchDir,
		Limits: dataset.Limits{
			MaxFileBytes: c.MaxFileBytes, PickleDecodedFactor: c.DecodedFactor, PickleMaxDepth: c.MaxDepth,
			MemoryBudget: Memory(c, os.Getenv).JobBudget, BudgetAdvice: BudgetAdvice,
		},
	})
	ps, err := pull.New(pullConfig(c, tc), domains, loader, pm, log)
	if err != nil {
		return nil, nil, err
	}
	lis, err := net.Listen("tcp", c.PullAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("pull: listen on %s: %w", c.PullAddr, err)
	}
	return ps, lis, nil
}

// pullConfig maps the settings onto the pull server's configuration.
func pullConfig(c Config, tc *tls.Config) pull.Config {
	return pull.Config{
		Concurrency:  c.PullConcurrency,
		Token:        c.PullToken,
		TLS:          tc,
		ChunkRecords: c.ChunkRecords,
		ChunkBytes:   c.ChunkBytes,
		StopTimeout:  c.ShutdownTimeout,
	}
}

// pullObjects is the pull server's object store: the queue's ingest_files
// once work has opened it. A missing object's error wraps fs.ErrNotExist
// (NOT_FOUND); before the queue is open, objects are unavailable.
type pullObjects struct{ q *atomic.Pointer[queue.Queue] }

func (o pullObjects) Open(ctx context.Context, name string) (io.ReadCloser, int64, error) {
	q := o.q.Load()
	if q == nil {
		return nil, 0, errors.New("the object store is not reachable yet: the worker is not connected to NATS")
	}
	r, info, err := q.OpenFile(ctx, name)
	if errors.Is(err, queue.ErrFileNotFound) {
		return nil, 0, fmt.Errorf("%w (%w)", err, fs.ErrNotExist)
	}
	if err != nil {
		return nil, 0, err
	}
	return r, info.Size, nil
}

// work connects to NATS and the batch server, publishes the worker in
// current for readiness, and runs it until ctx ends. A NATS refusal at
// start (queue.ErrRefused: wrong credentials, TLS) is returned at once,
// and a connection NATS closes for good while the worker runs
// (queue.ErrClosed) stops the worker and is returned (kept in lost for
// /healthz meanwhile): either way the process exits non-zero, to be
// restarted, instead of retrying forever or answering 503 forever.
func work(ctx context.Context, c Config, domains *domain.Registry, metrics *ingest.Metrics,
	current *atomic.Pointer[ingest.Worker], objects *atomic.Pointer[queue.Queue], lost *atomic.Pointer[error], log zerolog.Logger) error {
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
	objects.Store(q)
	defer objects.Store(nil) // the connection drains when work returns
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
