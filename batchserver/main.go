// Command batchserver is embedstream's reference batch server: it receives
// IngestDataStream streams over gRPC and commits each one, all or nothing, as
// canonical JSONL under its output directory, with a ledger that makes
// redeliveries duplicates (see internal/batchserver); its pull subcommand
// calls a worker's DatasetService instead and commits what it streams the
// same way. Its settings and assembly are internal/wiring/batchserver's.
//
//	batchserver [flags]                 run (every flag also reads its env var)
//	batchserver pull --addr W --domain D --file F [flags]
//	                                    pull one dataset from a worker and commit it (exit 0 when committed or a duplicate)
//	batchserver healthcheck [--addr A]  probe a running server's gRPC health service (exit 0 if SERVING)
//	batchserver --version
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	server "github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/buildinfo"
	"github.com/embedstream/embedstream/internal/healthprobe"
	"github.com/embedstream/embedstream/internal/telemetry"
	"github.com/embedstream/embedstream/internal/wiring/batchserver"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck(os.Args[2:], os.Getenv, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "pull" {
		os.Exit(pull(os.Args[2:]))
	}
	fs := flag.NewFlagSet("batchserver", flag.ContinueOnError)
	version := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: batchserver [flags]\n       batchserver pull --addr host:port --domain D --file F [flags] (see batchserver pull --help)\n       batchserver healthcheck [--addr host:port]\n       batchserver --version\n\nflags (each also read from the environment variable named):\n")
		fs.PrintDefaults()
	}
	cfg, err := batchserver.Load(fs, os.Args[1:], os.Getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case *version:
		fmt.Println(buildinfo.String("batchserver"))
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "batchserver:", err)
		os.Exit(2)
	}
	log, err := telemetry.NewLogger(os.Stderr, cfg.Level, cfg.Format, "batchserver")
	if err != nil {
		fmt.Fprintln(os.Stderr, "batchserver:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = batchserver.Run(ctx, cfg, log)
	stop()
	if err != nil {
		log.Error().Err(err).Msg("batch server failed")
		os.Exit(1)
	}
}

// pull runs `batchserver pull`: it pulls one dataset from a worker into
// the output directory and returns the exit status: 0 committed (or
// committed already), 1 failed (one line on stderr naming the status code),
// 2 bad usage.
func pull(args []string) int {
	fs := flag.NewFlagSet("batchserver pull", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: batchserver pull --addr host:port --domain D (--file F | --object O) [flags]\n\nflags:\n")
		fs.PrintDefaults()
	}
	cfg, err := batchserver.LoadPull(fs, args, os.Getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintln(os.Stderr, "batchserver pull:", err)
		return 2
	}
	log, err := telemetry.NewLogger(os.Stderr, cfg.Level, cfg.Format, "batchserver")
	if err != nil {
		fmt.Fprintln(os.Stderr, "batchserver pull:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := batchserver.RunPull(ctx, cfg, os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "batchserver pull:", batchserver.PullErrorLine(err))
		return 1
	}
	return 0
}

// healthcheck probes a running server's gRPC health service; for a
// distroless image's compose healthcheck. It reads BATCH_LISTEN_ADDR for the
// default address and, when BATCH_TLS_CERT is set, dials TLS without
// verifying the server (a local liveness probe), presenting
// BATCH_TLS_CERT/BATCH_TLS_KEY as its client certificate when
// BATCH_TLS_CLIENT_CA requires one.
func healthcheck(args []string, getenv func(string) string, stderr io.Writer) int {
	var tc *tls.Config
	if cert := getenv("BATCH_TLS_CERT"); cert != "" {
		var clientCert, clientKey string
		if getenv("BATCH_TLS_CLIENT_CA") != "" {
			clientCert, clientKey = cert, getenv("BATCH_TLS_KEY")
		}
		var err error
		if tc, err = healthprobe.LocalTLS(clientCert, clientKey); err != nil {
			fmt.Fprintln(stderr, "batchserver healthcheck:", err)
			return 1
		}
	}
	return healthprobe.Run("batchserver healthcheck", args, probeAddr(getenv("BATCH_LISTEN_ADDR")), healthprobe.GRPC(tc), stderr)
}

// probeAddr is the address the healthcheck dials by default for the listen
// address listen (see [healthprobe.LocalAddr]).
func probeAddr(listen string) string {
	addr, err := healthprobe.LocalAddr(listen, server.DefaultListenAddr)
	if err != nil {
		return listen // reported by healthprobe.Run
	}
	return addr
}
