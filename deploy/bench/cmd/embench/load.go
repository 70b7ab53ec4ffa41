package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/embedstream/embedstream/internal/chunk"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/filebuf"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/wiring/worker"
)

// loadResult is what `embench load` prints, and what pyload.py prints too.
type loadResult struct {
	Bytes        int64   `json:"bytes"`
	Rows         int     `json:"rows"`
	Seconds      float64 `json:"seconds"`                // read the file + decode it into a table
	ReadSeconds  float64 `json:"read_seconds,omitempty"` // of which reading the file (Go only)
	CPUSeconds   float64 `json:"cpu_seconds"`            // user + system CPU time of the load, all threads
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	BaseRSSBytes int64   `json:"base_rss_bytes"` // RSS before the load
	// With --encode: the chunks the worker's encoder cuts of the file and
	// their encoded bytes (the stream, without the wire); Lazy says the
	// table was read in windows (it did not fit --budget).
	Chunks     int   `json:"chunks,omitempty"`
	ChunkBytes int64 `json:"chunk_bytes,omitempty"`
	Lazy       bool  `json:"lazy,omitempty"`
}

// runLoad loads one file as a worker does (read whole into an
// internal/filebuf buffer, then pickleload.Load) and prints a loadResult.
func runLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	file := fs.String("file", "", "pickle file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load here")
	memProfile := fs.String("memprofile", "", "write a heap profile (allocations of the load) here")
	encode := fs.Bool("encode", false, "load as the worker does (internal/dataset: mapped with a --budget) and encode every chunk, sending nothing: the job without the wire")
	budget := fs.Int64("budget", 0, "with --encode: the job's memory budget in bytes (0: none, the file is read and decoded whole)")
	memory := fs.String("memory-limit", "", "with --encode: plan memory as a worker of concurrency 1 with this MEMORY_LIMIT does (auto: this process's cgroup limit; a size): the job's budget and the Go runtime's soft limit, instead of --budget")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		return fmt.Errorf("load: --file is required")
	}
	if *encode {
		if *memory != "" {
			plan := worker.Memory(worker.Config{MemoryLimit: *memory, Concurrency: 1}, os.Getenv)
			plan.Apply()
			*budget = plan.JobBudget
		}
		return runLoadEncode(*file, *budget)
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 64 << 10
	}
	base := procStatus(os.Getpid(), "VmRSS")
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("load: start CPU profile: %w", err)
		}
	}
	cpu0 := cpuTime()
	start := time.Now()
	buf, err := filebuf.ReadFile(*file)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	defer buf.Free()
	data := buf.Bytes()
	read := time.Since(start).Seconds()
	t, err := pickleload.Load(data, pickleload.Options{})
	if err != nil {
		return fmt.Errorf("load %s: %w", *file, err)
	}
	secs := time.Since(start).Seconds()
	cpu := cpuTime() - cpu0
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		if err := writeHeapProfile(*memProfile); err != nil {
			return err
		}
	}
	res := loadResult{Bytes: int64(len(data)), Rows: t.NumRows, Seconds: secs, ReadSeconds: read, CPUSeconds: cpu,
		PeakRSSBytes: procStatus(os.Getpid(), "VmHWM"), BaseRSSBytes: base}
	runtime.KeepAlive(t)
	return json.NewEncoder(os.Stdout).Encode(res)
}

// runLoadEncode loads file through internal/dataset, as the worker's job
// does (with a budget: mapped, and read in windows when the table would not
// fit it), and cuts and encodes every chunk with the worker's encoder
// (chunk.Options defaults), freeing each: what a job does but the wire and
// the validation of the rows. It prints a loadResult.
func runLoadEncode(file string, budget int64) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	ctx := context.Background()
	base := procStatus(os.Getpid(), "VmRSS")
	cpu0 := cpuTime()
	start := time.Now()
	l := dataset.NewLoader(dataset.Config{Limits: dataset.Limits{MemoryBudget: budget}})
	d, st, err := l.Load(ctx, dataset.Ref{Origin: dataset.AtPath, Name: abs})
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	defer d.Release()
	res := loadResult{Bytes: st.FileBytes, Rows: d.Rows(), ReadSeconds: st.Read.Seconds(), Lazy: st.Lazy}
	err = dataset.Guard(func() error {
		return chunk.NewEncoder(d.Source(), chunk.Options{}).Pipe(ctx, chunk.Start{}, func(m *chunk.Message) error {
			res.Chunks++
			res.ChunkBytes += int64(m.Size)
			m.Free()
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("encode %s: %w", file, err)
	}
	res.Seconds = time.Since(start).Seconds()
	res.CPUSeconds = cpuTime() - cpu0
	res.PeakRSSBytes, res.BaseRSSBytes = procStatus(os.Getpid(), "VmHWM"), base
	return json.NewEncoder(os.Stdout).Encode(res)
}

// writeHeapProfile writes the allocs profile after a GC, so its inuse
// samples are what the live table holds and its alloc samples everything
// allocated so far.
func writeHeapProfile(path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}

// cpuTime returns the user + system CPU seconds of this process so far.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
