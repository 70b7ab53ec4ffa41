// Command publisher enqueues embedstream ingest jobs and manages them: the
// HTTP API (`publisher serve`) and the CLI (enqueue, upload, status, jobs,
// dlq, inspect, healthcheck). `publisher --help` lists the commands. The
// commands are internal/cli's; their settings, and what those configure,
// are internal/wiring/publisher's. The local stack is its own command,
// publisher/dev, so this binary links no worker, batch server or NATS
// server.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/embedstream/embedstream/internal/cli"
	"github.com/embedstream/embedstream/internal/wiring/publisher"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Env{
		Stdout:       os.Stdout,
		Stderr:       os.Stderr,
		Getenv:       os.Getenv,
		Terminal:     isTerminal(os.Stdout),
		LoadSettings: publisher.LoadCLI,
	})
	stop()
	os.Exit(code)
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
