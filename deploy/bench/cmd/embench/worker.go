package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/embedstream/embedstream/internal/telemetry"
	"github.com/embedstream/embedstream/internal/wiring/worker"
)

// runWorker runs the worker as worker/main.go does (internal/wiring/worker),
// in this process, with a CPU profile from start to SIGTERM and an
// allocation profile written at the end. The worker binary serves no
// /debug/pprof, so this is how the end-to-end stage is profiled.
func runWorker(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile here")
	memProfile := fs.String("memprofile", "", "write an allocation profile here at exit")
	cfg, err := worker.Load(fs, args, os.Getenv)
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

	werr := worker.Run(ctx, cfg, log)
	if *memProfile != "" {
		werr = errors.Join(werr, writeHeapProfile(*memProfile))
	}
	return werr
}
