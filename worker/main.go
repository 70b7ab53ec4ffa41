// Command worker consumes embedstream ingest jobs from NATS JetStream: it
// loads each job's pickle, validates it against its domain and streams it to
// the batch server, with ack, retry and dead-letter semantics (see README).
//
//	worker [flags]                 run (every flag also reads its env var)
//	worker healthcheck [--addr A]  probe a running worker's /healthz (exit 0 if healthy)
//	worker --version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/buildinfo"
	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/domain"
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

// run wires the worker's parts and runs it until ctx ends.
func run(ctx context.Context, cfg config.Worker, log zerolog.Logger) error {
	wcfg, pcfg, bcfg := ingest.Configs(cfg)
	log = log.With().Str("worker", wcfg.Name).Logger()
	log.Info().Str("version", buildinfo.String("worker")).Msg("starting")

	domains, err := domain.NewRegistry(cfg.DomainsFile)
	if err != nil {
		return fmt.Errorf("load domains: %w", err)
	}
	nc, err := queue.Connect(ctx, cfg.NATS, "worker "+wcfg.Name, log)
	if err != nil {
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
	bc, err := batchclient.New(ctx, bcfg, log)
	if err != nil {
		return err
	}
	defer bc.Close()

	w := ingest.NewWorker(wcfg, q, nc, ingest.NewProcessor(pcfg, domains, q, bc), ingest.NewMetrics(), log)

	// Health and metrics outlive the signal until the worker has stopped; a
	// server that cannot listen stops the worker.
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() {
		err := ingest.ServeHTTP(httpCtx, cfg.MetricsAddr, w.Handler(), log, nil)
		if err != nil {
			cancelRun()
		}
		served <- err
	}()
	werr := w.Run(runCtx)
	stopHTTP()
	return errors.Join(werr, <-served)
}

// healthcheck probes a worker's /healthz: for distroless images, whose
// compose healthcheck cannot run curl.
func healthcheck(args []string, getenv func(string) string, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := getenv("METRICS_ADDR")
	if def == "" {
		def = ":9090"
	}
	addr := fs.String("addr", def, "the worker's metrics address (env METRICS_ADDR)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 2
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "healthcheck:", resp.Status)
		return 1
	}
	return 0
}
