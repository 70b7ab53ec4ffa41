package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/embedstream/embedstream/internal/buildinfo"
	"github.com/embedstream/embedstream/internal/dashboard"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuemetrics"
	"github.com/embedstream/embedstream/internal/telemetry"
)

// runServe runs the HTTP API until ctx is cancelled (SIGINT/SIGTERM in
// main), then shuts it down gracefully and drains the NATS connection. A
// NATS server that refuses it at start (queue.ErrRefused), or a
// connection NATS closes for good while it serves (queue.ErrClosed), ends
// it with that error: the process exits non-zero, to be restarted,
// instead of answering 503 forever.
func runServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "serve")
	cfg, rest, err := loadSettings(env, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("serve takes no arguments, got %q", rest)
	}
	log, err := telemetry.NewLogger(env.Stderr, cfg.LogLevel, cfg.LogFormat, "publisher")
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	log.Info().Str("version", buildinfo.String("publisher")).Msg("starting")
	domains, err := domain.NewRegistry(cfg.DomainsFile)
	if err != nil {
		return fmt.Errorf("domains: %w", err)
	}
	if cfg.DataDir != "" {
		if fi, err := os.Stat(cfg.DataDir); err != nil || !fi.IsDir() {
			log.Warn().Str("data_dir", cfg.DataDir).Msg("DATA_DIR is not visible here: file existence is left to the workers")
		}
	}
	nc, err := queue.Connect(ctx, cfg.Conn, "publisher", log)
	if err != nil {
		return err
	}
	defer func() {
		if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			log.Warn().Err(err).Msg("drain nats connection")
		}
	}()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var lost atomic.Pointer[error]
	queue.WatchClosed(ctx, nc, func(err error) {
		lost.Store(&err)
		log.Error().Err(err).Msg("the NATS connection was closed for good: stopping, to be restarted")
		stop(err)
	})
	closed := func() error {
		if err := lost.Load(); err != nil {
			return *err
		}
		return nil
	}
	q, err := queue.Open(ctx, nc, cfg.Queue)
	if err != nil {
		return errors.Join(err, closed())
	}
	// The job index answers listings and counts; it follows the status
	// bucket until serve stops.
	ix := jobindex.New(q, jobindex.Config{}, log)
	ixCtx, stopIndex := context.WithCancel(ctx)
	ixDone := make(chan error, 1)
	go func() { ixDone <- ix.Run(ixCtx) }()
	defer func() {
		stopIndex() // also when serve fails before ctx ends
		<-ixDone
	}()
	apiCfg := cfg.API
	apiCfg.Ready = q.Ready
	apiCfg.Index = ix
	srv := httpapi.New(apiCfg, q, domains, log)
	if err := srv.Registry().Register(queuemetrics.New(q, ix)); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if err := srv.Registry().Register(buildinfo.Collector("publisher")); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	dashCfg := cfg.Dashboard
	dashCfg.Index = ix
	dash, err := dashboard.New(dashCfg, q, domains, log.With().Str("part", "dashboard").Logger())
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	lis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (HTTP_ADDR): %w", cfg.HTTPAddr, err)
	}
	log.Info().Str("addr", lis.Addr().String()).Strs("domains", domains.Names()).Bool("auth", cfg.API.Token != "").Msg("http api listening")
	if env.OnListen != nil {
		env.OnListen(lis.Addr())
	}
	if err := srv.ServeHandler(ctx, lis, dash.Wrap(srv)); err != nil {
		return errors.Join(err, closed())
	}
	if err := closed(); err != nil {
		return err
	}
	log.Info().Msg("stopped")
	return nil
}
