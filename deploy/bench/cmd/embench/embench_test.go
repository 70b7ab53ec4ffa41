package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestMedianAndPercentile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		xs       []float64
		med, p99 float64
		p50      float64 // nearest rank
	}{
		{nil, 0, 0, 0},
		{[]float64{3}, 3, 3, 3},
		{[]float64{5, 1, 3}, 3, 5, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 4, 2},
	} {
		if got := median(tc.xs); got != tc.med {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.med)
		}
		if got := percentile(tc.xs, 99); got != tc.p99 {
			t.Errorf("percentile(%v, 99) = %v, want %v", tc.xs, got, tc.p99)
		}
		if got := percentile(tc.xs, 50); got != tc.p50 {
			t.Errorf("percentile(%v, 50) = %v, want %v", tc.xs, got, tc.p50)
		}
	}
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(100 - i) // 100 .. 1
	}
	if got := percentile(xs, 99); got != 99 {
		t.Errorf("p99 of 1..100 = %v, want 99", got)
	}
}

func TestProcReadsThisProcess(t *testing.T) {
	t.Parallel()
	pid := os.Getpid()
	rss := procStatus(pid, "VmRSS")
	if hwm := procStatus(pid, "VmHWM"); hwm <= 0 || rss <= 0 || hwm < rss {
		t.Errorf("VmHWM %d, VmRSS %d: want both positive and VmHWM >= VmRSS", hwm, rss)
	}
	if got := procStatus(pid, "NoSuchField"); got != 0 {
		t.Errorf("unknown field = %d, want 0", got)
	}
	if got := procCPU(pid); got < 0 {
		t.Errorf("procCPU = %v, want >= 0", got)
	}
	if got := procCPU(-1); got != 0 {
		t.Errorf("procCPU(-1) = %v, want 0", got)
	}
}

func TestTargetsAndMarkdown(t *testing.T) {
	t.Parallel()
	r := &report{N: 100, Runs: 3, Command: "deploy/bench/run"}
	for i, ratio := range []float64{1.2, 0.6, 0.9} {
		l := loadStage{Name: []string{"df", "records", "ndarray"}[i], Bytes: 100, Rows: 100, Ratio: ratio}
		l.Go.PeakRSS = []int64{150, 250, 500}
		l.Go.Seconds = []float64{1, 2, 3}
		l.Go.finish(l.Bytes, l.Rows)
		r.Load = append(r.Load, l)
	}
	r.E2E = &e2eStage{File: "f.pkl", Bytes: 100, Rows: 100, RSSVsPickle: 3, ColdRSSVsPickle: 1.5}
	r.E2E.Warm.Seconds = []float64{0.0005}
	r.E2E.Warm.finish(100, 100)
	r.Queue = &queueStage{Jobs: 10}
	r.Queue.Median.IdleP99ms = 25
	r.Targets = targets(r)

	met := map[string]bool{}
	for _, tg := range r.Targets {
		met[tg.Name] = tg.Met
	}
	for name, want := range map[string]bool{
		"load df: Go / CPython throughput":                             true,  // 1.2 >= 1.0
		"load records: Go / CPython throughput":                        false, // 0.6 < 0.7
		"load ndarray: Go / CPython throughput":                        false, // 0.9 < 1.0
		"load df: loader peak RSS / pickle size":                       false, // median 250 / 100 = 2.5x > 2x
		"load records: loader peak RSS / pickle size":                  true,  // 2.5 <= 4
		"load ndarray: loader peak RSS / pickle size":                  false, // 2.5 > 2
		"enqueue-to-start p99, idle queue":                             false, // 25 > 20
		"end to end, DataFrame d384, 1 worker, warm (rows / job time)": true,
	} {
		got, ok := met[name]
		if !ok || got != want {
			t.Errorf("target %q: met = %v (present %v), want %v", name, got, ok, want)
		}
	}

	var b bytes.Buffer
	writeMarkdown(&b, r)
	for _, want := range []string{"## Pickle load", "## End to end", "## Queue overhead", "## Targets (issues 7 and 14)", "| df |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, b.String())
		}
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"200M": 200e6, "1G": 1e9, "2.1G": 2.1e9, "5k": 5000, "123": 123} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "-1M", "1T", "x"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q): want an error", in)
		}
	}
}

func TestMemoryAndResumeReport(t *testing.T) {
	t.Parallel()
	r := &report{N: 100, Runs: 1}
	r.Wire = []wireStage{{File: "f.pkl", Bytes: 100e6, Stats: runStats{MBps: 1000, MedianSeconds: 0.1}}}
	r.E2E = &e2eStage{File: "f.pkl", Bytes: 100e6, Rows: 100}
	r.E2E.Warm.Seconds = []float64{0.5}
	r.E2E.Warm.finish(100e6, 100)
	r.E2E.LoadEncode.Seconds = []float64{0.4}
	r.E2E.LoadEncode.finish(100e6, 100)
	r.E2E.MedianWarmPhases = medianPhases([]jobPhases{{Read: 0.1, Load: 0.2, Validate: 0.1, Stream: 0.2}, {Read: 0.1, Load: 0.2, Validate: 0.1, Stream: 0.2}})
	r.Memory = &memoryStage{LimitBytes: 256 << 20, Budget: 192 << 20, Cgroup: "memory cgroup v1", Check: "ledger"}
	r.Memory.Files = []memoryFile{
		{File: "big.pkl", Bytes: 2.1e9, Rows: 1000, JobSeconds: 10, BytesSent: 2e9, Exact: true, Lazy: true, LoadSeconds: 8,
			LoadError: "load --encode big.pkl: signal: killed", // the bench's tool, not the job: the target stands
			Worker:    measured{PeakRssAnon: 200 << 20, OOMKills: 0}},
		{File: "bad.pkl", Bytes: 2.2e9, Rows: 1000, JobSeconds: 10, Exact: false, CheckNote: "ledger records 1, generated 1000",
			Worker: measured{PeakRssAnon: 200 << 20}},
	}
	r.Resume = &resumeStage{File: "big.pkl", Rows: 1000, Chunks: 100, ResumedFrom: 90, ResentChunks: 10, ResentBytes: 10 << 20, StreamBytes: 100 << 20, Exact: true}
	r.Targets = targets(r)
	met := map[string]bool{}
	for _, tg := range r.Targets {
		met[tg.Name] = tg.Met
	}
	for name, want := range map[string]bool{
		"issue 14: big.pkl (2003 MiB) ingested exactly by a worker limited to 256 MiB, no OOM kill": true,
		"issue 14: bad.pkl (2098 MiB) ingested exactly by a worker limited to 256 MiB, no OOM kill": false,
		"issue 14: chunks re-sent after a kill at 90 %":                                             true,
		"issue 14: end to end, DataFrame d384, warm, not below the previous published run":          false, // 100 rows in 0.5 s
	} {
		if got, ok := met[name]; !ok || got != want {
			t.Errorf("target %q: met = %v (present %v), want %v; targets %+v", name, got, ok, want, r.Targets)
		}
	}
	var b bytes.Buffer
	writeMarkdown(&b, r)
	for _, want := range []string{
		"## Overlap", "| f.pkl (95 MiB) | whole | 0.50 s | 0.30 s / 0.20 s (0.10 s) | – | 0.40 s | 0.10 s | 0.50 s | 1.00 |",
		"| big.pkl (2003 MiB) | – | 10.0 s | – | – | 8.00 s | 2.00 s | 10.0 s | 1.00 |",
		"## Memory against file size", "| **no** |", "- bad.pkl: ledger records 1, generated 1000\n", "- big.pkl: load --encode big.pkl: signal: killed\n",
		"## Resume", "| 100 | 0 chunks, 0 records | chunk 90 | 10 (10.0 %) | 10 MiB (10.0 %) | 100 MiB |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, b.String())
		}
	}
}
