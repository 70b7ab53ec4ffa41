package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/telemetry"
)

// runWorker runs the worker as worker/main.go wires it, in this process,
// with a CPU profile from start to SIGTERM and an allocation profile
// written at the end. The worker binary serves no /debug/pprof, so this is
// how the end-to-end stage is profiled.
func runWorker(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile here")
	memProfile := fs.String("memprofile", "", "write an allocation profile here at exit")
	cfg, err := config.LoadWorker(fs, args, os.Getenv)
	if err != nil {
		return err
	}
	log, err := telemetry.NewLogger(os.Stderr, cfg.Level, cfg.Format, "worker")
	if err != nil {
		return err
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 64 << 10
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("worker: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("worker: start CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	wcfg, _, _ := ingest.Configs(cfg)
	domains, err := domain.NewRegistry(cfg.DomainsFile)
	if err != nil {
		return fmt.Errorf("load domains: %w", err)
	}
	nc, err := queue.Connect(ctx, cfg.NATS, "worker "+wcfg.Name, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	q, err := queue.Open(ctx, nc, queue.ConfigFromNATS(cfg.NATS))
	if err != nil {
		return fmt.Errorf("open queue: %w", err)
	}
	w, bc, err := ingest.Wire(ctx, cfg, domains, q, nc, ingest.NewMetrics(), log)
	if err != nil {
		return err
	}
	defer bc.Close()

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	served := make(chan error, 1)
	go func() {
		err := ingest.ServeHTTP(context.WithoutCancel(runCtx), cfg.MetricsAddr, w.Handler(), log, nil)
		if err != nil {
			cancelRun()
		}
		served <- err
	}()
	werr := w.Run(runCtx)
	if *memProfile != "" {
		werr = errors.Join(werr, writeHeapProfile(*memProfile))
	}
	return werr
}
