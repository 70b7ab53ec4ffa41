package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/embedstream/embedstream/internal/filebuf"
	"github.com/embedstream/embedstream/internal/pickleload"
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
}

// runLoad loads one file as a worker does (read whole into an
// internal/filebuf buffer, then pickleload.Load) and prints a loadResult.
func runLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	file := fs.String("file", "", "pickle file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load here")
	memProfile := fs.String("memprofile", "", "write a heap profile (allocations of the load) here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		return fmt.Errorf("load: --file is required")
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
