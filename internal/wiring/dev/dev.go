// Package dev is the local stack's composition root (`go run
// ./publisher/dev`): its settings ([Config], [Load]) are the publisher's
// API settings, the worker's processing settings and its own DEV_* ones;
// [Start] maps them onto internal/localstack's configuration, with the
// workers built as the worker binary builds them (internal/wiring/worker)
// and the dashboard mounted beside the API as `publisher serve` mounts it.
package dev

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/buildinfo"
	"github.com/embedstream/embedstream/internal/chunk"
	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/dashboard"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/localstack"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/wiring"
	"github.com/embedstream/embedstream/internal/wiring/publisher"
	"github.com/embedstream/embedstream/internal/wiring/worker"
)

// Config is the local stack's configuration: the publisher's API plus
// embedded NATS, batch server and workers.
type Config struct {
	Publisher   publisher.Config
	Worker      worker.Config
	NATSPort    int    // DEV_NATS_PORT
	NATSDir     string // DEV_NATS_DIR
	BatchOutDir string // DEV_BATCH_OUT_DIR
	Workers     int    // DEV_WORKERS
	BatchServer string // DEV_BATCH_SERVER: external batch server (empty: in-process)
}

func (c *Config) bind(b *config.Binder) {
	c.Publisher.Log.Bind(b)
	c.Publisher.NATS.Bind(b)
	c.Publisher.BindAPI(b, localstack.DefaultHTTPAddr)
	b.String(&c.Publisher.DataDir, "data-dir", "DATA_DIR", "", "data directory (default: the shipped sample folder)")
	b.Int(&c.Worker.Concurrency, "concurrency", "WORKER_CONCURRENCY", ingest.DefaultConcurrency, "jobs run at once per worker")
	b.Duration(&c.Worker.RetryBackoffMin, "retry-backoff-min", "RETRY_BACKOFF_MIN", ingest.DefaultBackoffMin, "first retry delay after a transient failure")
	b.Duration(&c.Worker.RetryBackoffMax, "retry-backoff-max", "RETRY_BACKOFF_MAX", ingest.DefaultBackoffMax, "largest retry delay")
	c.Worker.BindRetryBudget(b)
	b.Duration(&c.Worker.ShutdownTimeout, "shutdown-timeout", "SHUTDOWN_TIMEOUT", ingest.DefaultShutdownTimeout, "how long running jobs may finish on Ctrl-C")
	b.Int64(&c.Worker.ChunkBytes, "chunk-bytes", "CHUNK_BYTES", chunk.DefaultBytes, "target encoded size of one chunk")
	b.Int(&c.Worker.ChunkRecords, "chunk-records", "CHUNK_RECORDS", chunk.DefaultRecords, "most records in one chunk")
	b.Int64(&c.Worker.MaxFileBytes, "max-file-bytes", "MAX_FILE_BYTES", dataset.DefaultMaxFileBytes, "largest pickle file a worker loads")
	c.Worker.Pickle.Bind(b)
	b.Int(&c.NATSPort, "nats-port", "DEV_NATS_PORT", localstack.DefaultNATSPort, "port of the embedded NATS server on 127.0.0.1 (-1: any free port)")
	b.String(&c.NATSDir, "nats-dir", "DEV_NATS_DIR", localstack.DefaultNATSDir, "JetStream storage directory of the embedded NATS server")
	b.String(&c.BatchOutDir, "batch-out", "DEV_BATCH_OUT_DIR", localstack.DefaultBatchOutDir, "output directory of the in-process batch server")
	b.Int(&c.Workers, "workers", "DEV_WORKERS", localstack.DefaultWorkers, "workers started in-process")
	b.String(&c.BatchServer, "batch-server", "DEV_BATCH_SERVER", "", "use this external batch server instead of the in-process one")
}

// Load parses the local stack's configuration from args and getenv,
// binding its settings on fs. It returns flag.ErrHelp for --help, and
// errors naming the flag and the variable of every bad setting.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	var c Config
	b := config.NewBinder(fs, getenv)
	c.bind(b)
	if err := b.Parse(args); err != nil {
		return c, err
	}
	if err := c.Publisher.Finish(); err != nil {
		return c, err
	}
	c.Worker.Log = c.Publisher.Log
	c.Worker.NATS = c.Publisher.NATS
	c.Worker.DataDir = c.Publisher.DataDir
	c.Worker.DomainsFile = c.Publisher.DomainsFile
	c.Worker.BatchServerAddr = "in-process"
	if c.BatchServer != "" {
		c.Worker.BatchServerAddr = c.BatchServer
	}
	if c.Worker.DataDir == "" {
		c.Worker.DataDir = "-"
	}
	var errs []error
	if err := c.Worker.ValidateProcessing(); err != nil {
		errs = append(errs, err)
	}
	if c.Workers < 0 || c.Workers > 64 {
		errs = append(errs, config.FieldError("workers", "DEV_WORKERS", "must be 0 to 64"))
	}
	if c.NATSPort < -1 || c.NATSPort > 65535 {
		errs = append(errs, config.FieldError("nats-port", "DEV_NATS_PORT", "must be a port number (-1: any free port)"))
	}
	return c, errors.Join(errs...)
}

// Settings lists every setting the local stack reads, sorted by variable.
func Settings() []config.Setting {
	var c Config
	b := config.NewBinder(flag.NewFlagSet("dev", flag.ContinueOnError), nil)
	c.bind(b)
	return b.Settings()
}

// stack maps the settings onto the local stack's configuration.
func stack(c Config) localstack.Config {
	return localstack.Config{
		HTTPAddr:          c.Publisher.HTTPAddr,
		NATS:              localstack.NATSConfig{Port: c.NATSPort, StoreDir: c.NATSDir},
		Conn:              wiring.Conn(c.Publisher.NATS),
		Queue:             wiring.Queue(c.Publisher.NATS),
		DataDir:           c.Publisher.DataDir,
		DomainsFile:       c.Publisher.DomainsFile,
		BatchServer:       c.BatchServer,
		BatchOutDir:       c.BatchOutDir,
		Workers:           c.Workers,
		WorkerConcurrency: c.Worker.Concurrency,
		API:               publisher.API(c.Publisher),
		NewWorker:         newWorker(c.Worker),
	}
}

// newWorker returns how the stack builds its workers: from the worker's
// settings, with the stack's data directory, batch server and names.
func newWorker(wc worker.Config) func(context.Context, localstack.WorkerSpec) (localstack.Worker, error) {
	return func(ctx context.Context, spec localstack.WorkerSpec) (localstack.Worker, error) {
		c := wc
		c.DataDir = spec.DataDir
		c.BatchServerAddr = spec.BatchAddr
		c.WorkerName = spec.Name
		metrics := ingest.NewMetrics()
		if spec.Metrics != nil {
			if err := spec.Metrics.Register(metrics); err != nil {
				return nil, fmt.Errorf("worker metrics: %w", err)
			}
		}
		w, bc, err := worker.New(ctx, c, spec.Domains, spec.Queue, spec.Conn, metrics, spec.Log)
		if err != nil {
			return nil, err
		}
		return stackWorker{w, bc}, nil
	}
}

// stackWorker is a worker and its batch client, closed once it has run.
type stackWorker struct {
	*ingest.Worker
	client *batchclient.Client
}

func (w stackWorker) Close() error { return w.client.Close() }

// Start starts the local stack from its settings, with the dashboard
// mounted beside the API; out receives the banner (nil: none). See
// localstack.Start.
func Start(ctx context.Context, c Config, log zerolog.Logger, out io.Writer) (*localstack.Stack, error) {
	return localstack.Start(ctx, stack(c), log, localstack.Options{Out: out, Handler: withDashboard(c.Publisher, log)})
}

// withDashboard mounts the dashboard beside the API, as `publisher serve`
// does, with the data directory the stack resolved.
func withDashboard(p publisher.Config, log zerolog.Logger) func(http.Handler, *queue.Queue, *jobindex.Index, *domain.Registry, string) (http.Handler, error) {
	return func(api http.Handler, q *queue.Queue, ix *jobindex.Index, domains *domain.Registry, dataDir string) (http.Handler, error) {
		p.DataDir = dataDir
		cfg := publisher.Dashboard(p)
		cfg.Index = ix
		dash, err := dashboard.New(cfg, q, domains, log.With().Str("part", "dashboard").Logger())
		if err != nil {
			return nil, err
		}
		return dash.Wrap(api), nil
	}
}

// Run runs the local stack until ctx ends (Ctrl-C), then stops it and
// returns what its parts stopped with.
func Run(ctx context.Context, c Config, log zerolog.Logger, out io.Writer) error {
	log.Info().Str("version", buildinfo.String("publisher")).Msg("starting local stack")
	st, err := Start(ctx, c, log, out)
	if err != nil {
		return err
	}
	if tcp, ok := st.HTTPAddr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() && c.Publisher.APIToken == "" {
		log.Warn().Str("addr", tcp.String()).Msg("the API and dashboard are open to the network without API_TOKEN: anyone who reaches this address can enqueue, upload and replay; set API_TOKEN, or keep HTTP_ADDR on 127.0.0.1")
	}
	select {
	case <-ctx.Done():
	case <-st.Done(): // stopped by itself: Wait says why
	}
	log.Info().Msg("stopping local stack")
	if err := st.Wait(); err != nil {
		return err
	}
	log.Info().Msg("stopped")
	return nil
}
