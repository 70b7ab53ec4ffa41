// Command worker consumes embedstream ingest jobs from NATS JetStream: it
// loads each job's pickle, validates it against its domain and streams it to
// the batch server, with ack, retry and dead-letter semantics (see README).
//
//	worker [flags]                 run (every flag also reads its env var)
//	worker healthcheck [--addr A]  probe a running worker's /healthz (exit 0 if healthy)
//	worker --version
//
// The worker's settings and its assembly are internal/wiring/worker's.
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
	"syscall"

	"github.com/embedstream/embedstream/internal/buildinfo"
	"github.com/embedstream/embedstream/internal/healthprobe"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/telemetry"
	"github.com/embedstream/embedstream/internal/wiring/worker"
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
	cfg, err := worker.Load(fs, os.Args[1:], os.Getenv)
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
	err = worker.Run(ctx, cfg, log)
	stop()
	if err != nil {
		log.Error().Err(err).Msg("worker failed")
		os.Exit(1)
	}
}

// healthcheck probes a worker's /healthz: for distroless images, whose
// compose healthcheck cannot run curl.
func healthcheck(args []string, getenv func(string) string, stderr io.Writer) int {
	return healthprobe.Run("worker healthcheck", args, cmp.Or(getenv("METRICS_ADDR"), ingest.DefaultMetricsAddr), healthprobe.HTTP("/healthz"), stderr)
}
