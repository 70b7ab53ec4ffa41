// Command dev runs the whole embedstream pipeline in one process, the local
// stack: an embedded NATS server with JetStream, the reference batch
// server, workers and the publisher's HTTP API with its dashboard. From the
// repository root:
//
//	go run ./publisher/dev [flags]   (every flag also reads its env var)
//
// Ctrl-C stops everything. Its settings and assembly are
// internal/wiring/dev's; the stack itself is internal/localstack.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/embedstream/embedstream/internal/telemetry"
	"github.com/embedstream/embedstream/internal/wiring/dev"
)

func main() {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: dev [flags]   (from the repository root: go run ./publisher/dev [flags])\n\nRun the whole stack in this process: embedded JetStream, batch server, workers and the HTTP API.\n\nflags (each also read from the environment variable named):\n")
		fs.PrintDefaults()
	}
	cfg, err := dev.Load(fs, os.Args[1:], os.Getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "dev: takes no arguments, got %q\n", fs.Args())
		os.Exit(2)
	}
	// Humans run the local stack: console logs unless asked otherwise.
	format := cfg.Publisher.Format
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "log-format" })
	if !given && os.Getenv("LOG_FORMAT") == "" {
		format = "console"
	}
	log, err := telemetry.NewLogger(os.Stderr, cfg.Publisher.Level, format, "dev")
	if err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = dev.Run(ctx, cfg, log, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}
