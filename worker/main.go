// Command worker consumes embedstream ingest jobs from NATS JetStream: it
// loads each job's pickle, validates it against its domain and streams it to
// the batch server, with ack, retry and dead-letter semantics (see README).
//
//	worker [flags]                 run (every flag also reads its env var)
//	worker healthcheck [--addr A]  probe a running worker's /healthz (exit 0 if healthy)
//	worker --version
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/buildinfo"
	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/healthprobe"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/telemetry"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck(os.Args[2:], os.Getenv, os.Stderr))
	}
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	version := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: worker [flags]\n       worker healthcheck [--addr host:port]\n       worker --version\n\nflags (each also read from the environment variable named):\n")
		fs.PrintDefaults()
	}
	cfg, err := config.LoadWorker(fs, os.Args[1:], os.Getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case *version:
		fmt.Println(buildinfo.String("worker"))
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	log, err := telemetry.NewLogger(os.Stderr, cfg.Level, cfg.Format, "worker")
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg, log)
	stop()
	if err != nil {
		log.Error().Err(err).Msg("worker failed")
		os.Exit(1)
	}
}

// run wires the worker's parts and runs it until ctx ends. Health and
// metrics are served first, before NATS is reached: /healthz answers while
// the worker connects, and /readyz says not ready until it is bound.
func run(ctx context.Context, cfg config.Worker, log zerolog.Logger) error {
	wcfg, _, _ := ingest.Configs(cfg)
	cfg.WorkerName = wcfg.Name // resolved once (the host name when unset), for every part
	log = log.With().Str("worker", wcfg.Name).Logger()
	log.Info().Str("version", buildinfo.String("worker")).Msg("starting")

	domains, err := domain.NewRegistry(cfg.DomainsFile)
	if err != nil {
		return fmt.Errorf("load domains: %w", err)
	}
	metrics := ingest.NewMetrics()
	var worker atomic.Pointer[ingest.Worker]
	ready := func() error {
		if w := worker.Load(); w != nil {
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
		err := ingest.ServeHTTP(httpCtx, cfg.MetricsAddr, ingest.NewHandler(ready, metrics), log, nil)
		if err != nil {
			cancelRun()
		}
		served <- err
	}()
	werr := work(runCtx, cfg, domains, metrics, &worker, log)
	stopHTTP()
	return errors.Join(werr, <-served)
}

// work connects to NATS and the batch server, publishes the worker in
// worker for readiness, and runs it until ctx ends.
func work(ctx context.Context, cfg config.Worker, domains *domain.Registry, metrics *ingest.Metrics,
	worker *atomic.Pointer[ingest.Worker], log zerolog.Logger) error {
	nc, err := queue.Connect(ctx, cfg.NATS, "worker "+cfg.WorkerName, log)
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
			log.Warn().Err(err).Msg("nats drain failed")
			nc.Close()
			return
		}
		<-closed
	}()
	q, err := queue.Open(ctx, nc, queue.ConfigFromNATS(cfg.NATS))
	if err != nil {
		return fmt.Errorf("open queue: %w", err)
	}
	w, bc, err := ingest.Wire(ctx, cfg, domains, q, nc, metrics, log)
	if err != nil {
		return err
	}
	defer bc.Close()
	worker.Store(w)
	return w.Run(ctx)
}

// healthcheck probes a worker's /healthz: for distroless images, whose
// compose healthcheck cannot run curl.
func healthcheck(args []string, getenv func(string) string, stderr io.Writer) int {
	return healthprobe.Run("worker healthcheck", args, cmp.Or(getenv("METRICS_ADDR"), ":9090"), healthprobe.HTTP("/healthz"), stderr)
}
