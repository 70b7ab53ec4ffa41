package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// report is deploy/bench/results/latest.json.
type report struct {
	GeneratedAt time.Time `json:"generated_at"`
	Command     string    `json:"command"`
	// Commit is the checked-out commit; Dirty says the binaries were built
	// with uncommitted changes to Go code outside deploy/bench.
	Commit  string         `json:"commit"`
	Dirty   bool           `json:"dirty"`
	Machine machine        `json:"machine"`
	N       int            `json:"n"`
	Runs    int            `json:"runs"`
	Notes   []string       `json:"notes,omitempty"`
	Load    []loadStage    `json:"load,omitempty"`
	Wire    []wireStage    `json:"wire,omitempty"`
	E2E     *e2eStage      `json:"e2e,omitempty"`
	Queue   *queueStage    `json:"queue,omitempty"`
	Scaling []scalingStage `json:"scaling,omitempty"`
	Memory  *memoryStage   `json:"memory,omitempty"`
	Resume  *resumeStage   `json:"resume,omitempty"`
	Targets []target       `json:"targets,omitempty"`
}

// machine describes where the run happened.
type machine struct {
	CPU        string `json:"cpu"`
	NProc      int    `json:"nproc"`
	MemBytes   int64  `json:"mem_bytes"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	Python     string `json:"python"`
	LoadBefore string `json:"loadavg_before"` // /proc/loadavg: other work competing for the CPUs
	LoadAfter  string `json:"loadavg_after"`
}

// runStats is one measured thing over several runs; the medians are the
// figures.
type runStats struct {
	Seconds       []float64 `json:"seconds"`
	PeakRSS       []int64   `json:"peak_rss_bytes,omitempty"`
	MedianSeconds float64   `json:"median_seconds"`
	MBps          float64   `json:"mb_per_s"` // 10^6 bytes of pickle per second
	RowsPerSec    float64   `json:"rows_per_s"`
	MedianPeakRSS int64     `json:"median_peak_rss_bytes,omitempty"`
	BaseRSS       int64     `json:"base_rss_bytes,omitempty"` // RSS before the load (interpreter, imports)
	// CPUSeconds is user + system CPU time per run, where measured: unlike
	// wall time it does not grow when other processes compete for the CPUs.
	CPUSeconds       []float64 `json:"cpu_seconds,omitempty"`
	MedianCPUSeconds float64   `json:"median_cpu_seconds,omitempty"`
}

func (r *runStats) finish(bytes int64, rows int) {
	r.MedianSeconds = median(r.Seconds)
	if r.MedianSeconds > 0 {
		r.MBps = float64(bytes) / 1e6 / r.MedianSeconds
		r.RowsPerSec = float64(rows) / r.MedianSeconds
	}
	rss := make([]float64, len(r.PeakRSS))
	for i, v := range r.PeakRSS {
		rss[i] = float64(v)
	}
	r.MedianPeakRSS = int64(median(rss))
	r.MedianCPUSeconds = median(r.CPUSeconds)
}

// loadStage compares the project's loader with CPython's pickle.load.
type loadStage struct {
	Name   string   `json:"name"`
	File   string   `json:"file"`
	Bytes  int64    `json:"bytes"`
	Rows   int      `json:"rows"`
	Go     runStats `json:"go"`
	Python runStats `json:"python"`
	Ratio  float64  `json:"ratio"` // Go throughput / Python throughput
	// GoReadSeconds is the median time the Go side spent reading the file
	// (pickleload.ReadFile), included in its seconds.
	GoReadSeconds float64 `json:"go_read_seconds"`
	// CPURatio is Python CPU seconds / Go CPU seconds: the throughput ratio
	// in CPU time, robust to competing load.
	CPURatio float64 `json:"cpu_ratio"`
}

// wireStage is the grpc-go ceiling for one kind of chunk.
type wireStage struct {
	Name     string   `json:"name"`
	File     string   `json:"file"`
	Bytes    int64    `json:"bytes"`
	Messages int      `json:"messages"`
	Stats    runStats `json:"stats"`
}

// e2eStage is one job through the local stack with one worker.
type e2eStage struct {
	File        string   `json:"file"`
	Bytes       int64    `json:"bytes"`
	Rows        int      `json:"rows"`
	Cold        runStats `json:"cold"`          // first job of a fresh worker: started_at..finished_at of its status record
	Warm        runStats `json:"warm"`          // last job of the same worker (e2eJobs); peak RSS of the worker after all
	Wall        runStats `json:"wall"`          // warm job: POST to succeeded seen by polling
	RSSVsPickle float64  `json:"rss_vs_pickle"` // peak over all jobs / pickle size
	// ColdRSSVsPickle is the peak after the first job / pickle size.
	ColdRSSVsPickle float64 `json:"cold_rss_vs_pickle"`
	// BatchServerCPU is the batch server's CPU seconds during each warm
	// job (worker CPU is in Cold/Warm.CPUSeconds).
	BatchServerCPU       []float64 `json:"batch_server_cpu_seconds"`
	MedianBatchServerCPU float64   `json:"median_batch_server_cpu_seconds"`
	// LoadEncode is the job without the wire, in the same run: `embench
	// load --encode` of the file (loaded as the worker does, every chunk
	// encoded and dropped).
	LoadEncode runStats `json:"load_encode"`
	// WarmPhases are the warm jobs' phases from the worker's metrics.
	WarmPhases       []jobPhases `json:"warm_phases,omitempty"`
	MedianWarmPhases jobPhases   `json:"median_warm_phases"`
}

// memoryStage is the worker's memory against file size, in a memory
// cgroup (see stageMemory).
type memoryStage struct {
	LimitBytes int64        `json:"limit_bytes"`
	Budget     int64        `json:"job_budget_bytes"` // the limit less memReserve
	Cgroup     string       `json:"cgroup"`           // how the processes ran
	Check      string       `json:"check"`            // how the committed output was checked
	Files      []memoryFile `json:"files"`
}

// memoryFile is one file of the memory stage: one job on a fresh worker
// in a fresh cgroup, and the same load and encoding without the wire.
type memoryFile struct {
	Shape      string    `json:"shape"`
	Size       string    `json:"size"` // as asked (picklegen's --size)
	File       string    `json:"file"`
	Bytes      int64     `json:"bytes"`
	Rows       int       `json:"rows"`
	JobSeconds float64   `json:"job_seconds"` // started_at → finished_at
	RowsPerSec float64   `json:"rows_per_s"`
	MBps       float64   `json:"mb_per_s"`
	WorkerCPU  float64   `json:"worker_cpu_seconds"`
	Phases     jobPhases `json:"phases"` // from the worker's metrics
	Worker     measured  `json:"worker"`
	ChunksSent uint64    `json:"chunks_sent"`
	BytesSent  uint64    `json:"bytes_sent"`
	Exact      bool      `json:"exact"`
	CheckNote  string    `json:"check_note,omitempty"` // what differed
	// The load and encoding without the wire (embench load --encode with
	// the job's budget, in a cgroup of the same limit).
	LoadSeconds  float64  `json:"load_encode_seconds"`
	LoadCPU      float64  `json:"load_encode_cpu_seconds"`
	Lazy         bool     `json:"lazy"` // read in windows
	EncodedBytes int64    `json:"encoded_bytes"`
	Load         measured `json:"load_encode"`
	Error        string   `json:"error,omitempty"`             // the job failed
	LoadError    string   `json:"load_encode_error,omitempty"` // embench load --encode failed
}

// resumeStage is a worker SIGKILLed at 90 % of a stream and the job
// finished by another (see stageResume).
type resumeStage struct {
	File   string `json:"file"`
	Bytes  int64  `json:"bytes"`
	Rows   int    `json:"rows"`
	Cgroup string `json:"cgroup"`
	// StreamBytes is the encoded bytes of the whole stream, from the
	// memory stage's job of the same file (0: not measured).
	StreamBytes         uint64   `json:"stream_bytes,omitempty"`
	AckWaitSeconds      float64  `json:"ack_wait_seconds"`
	StagedChunksAtKill  uint64   `json:"staged_chunks_at_kill"`
	StagedRecordsAtKill uint64   `json:"staged_records_at_kill"`
	Attempt1Seconds     float64  `json:"attempt1_seconds"`   // start of attempt 1 → the kill
	RedeliverySeconds   float64  `json:"redelivery_seconds"` // the kill → start of attempt 2
	Attempt2Seconds     float64  `json:"attempt2_seconds"`
	Attempts            int      `json:"attempts"`
	Chunks              uint64   `json:"chunks"`       // of the stream (ledger)
	ResumedFrom         uint64   `json:"resumed_from"` // the chunk attempt 2 started at (ledger)
	ResentChunks        uint64   `json:"resent_chunks"`
	ResentBytes         uint64   `json:"resent_bytes"` // attempt 2's bytes_sent
	Worker              measured `json:"worker"`       // the worker of attempt 2
	Exact               bool     `json:"exact"`
	CheckNote           string   `json:"check_note,omitempty"`
}

// queueStage is the per-job overhead of the queue with tiny jobs.
type queueStage struct {
	Jobs        int       `json:"jobs"`
	Workers     int       `json:"workers"`
	Concurrency int       `json:"concurrency"`
	JobsPerSec  []float64 `json:"jobs_per_s"`
	BurstP50ms  []float64 `json:"burst_enqueue_to_start_p50_ms"`
	BurstP99ms  []float64 `json:"burst_enqueue_to_start_p99_ms"`
	IdleJobs    int       `json:"idle_jobs"`
	IdleP50ms   []float64 `json:"idle_enqueue_to_start_p50_ms"`
	IdleP99ms   []float64 `json:"idle_enqueue_to_start_p99_ms"`
	Median      struct {
		JobsPerSec float64 `json:"jobs_per_s"`
		BurstP50ms float64 `json:"burst_p50_ms"`
		BurstP99ms float64 `json:"burst_p99_ms"`
		IdleP50ms  float64 `json:"idle_p50_ms"`
		IdleP99ms  float64 `json:"idle_p99_ms"`
	} `json:"median"`
}

// scalingStage is several big jobs through k workers.
type scalingStage struct {
	Workers int      `json:"workers"`
	Files   int      `json:"files"`
	Bytes   int64    `json:"bytes"` // of all files
	Rows    int      `json:"rows"`  // of all files
	Span    runStats `json:"span"`  // first started_at .. last finished_at
}

// target is one of issue 7's goals, measured in this run.
type target struct {
	Name     string  `json:"name"`
	Measured float64 `json:"measured"`
	Goal     float64 `json:"goal"`
	Unit     string  `json:"unit"`
	Higher   bool    `json:"higher_is_better"`
	Met      bool    `json:"met"`
}

func newTarget(name string, measured, goal float64, unit string, higher bool) target {
	met := measured >= goal
	if !higher {
		met = measured <= goal
	}
	return target{Name: name, Measured: measured, Goal: goal, Unit: unit, Higher: higher, Met: met}
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// writeMarkdown renders r as the Markdown of latest.md (also printed).
func writeMarkdown(w io.Writer, r *report) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("# embedstream benchmark\n\n")
	dirty := ""
	if r.Dirty {
		dirty = " plus uncommitted changes"
	}
	p("Run %s with `%s` at commit %s%s: N = %d rows, each figure the median of %d runs.\n\n",
		r.GeneratedAt.UTC().Format(time.RFC3339), r.Command, r.Commit, dirty, r.N, r.Runs)
	m := r.Machine
	p("Machine: %s, %d CPUs, %s RAM, Linux %s, %s, %s. Load average before/after: %s / %s.\n\n",
		m.CPU, m.NProc, mib(m.MemBytes), m.Kernel, m.GoVersion, m.Python, m.LoadBefore, m.LoadAfter)
	if len(r.Load) > 0 {
		p("## Pickle load (project loader vs CPython `pickle.load`, separate processes)\n\n")
		p("| file | size | rows | Go MB/s | Go rows/s | Go time (of which read) | Go CPU | Go peak RSS | CPython MB/s | CPython rows/s | CPython time | CPython CPU | CPython peak RSS | Go / CPython | same, in CPU time |\n")
		p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, l := range r.Load {
			p("| %s | %s | %d | %.0f | %.0f | %.3f s (%.3f s) | %.3f s | %s | %.0f | %.0f | %.3f s | %.3f s | %s | %.2fx | %.2fx |\n", l.Name, mib(l.Bytes), l.Rows,
				l.Go.MBps, l.Go.RowsPerSec, l.Go.MedianSeconds, l.GoReadSeconds, l.Go.MedianCPUSeconds, mib(l.Go.MedianPeakRSS),
				l.Python.MBps, l.Python.RowsPerSec, l.Python.MedianSeconds, l.Python.MedianCPUSeconds, mib(l.Python.MedianPeakRSS), l.Ratio, l.CPURatio)
		}
		p("\nTimes include reading the file (page cache warm). CPython imports numpy and pandas before the timer starts; its peak RSS includes them (%s before the load). CPU is user + system time of all threads (Go's GC runs on the other core); the CPU-time ratio is the one to trust when the load average shows competing work.\n\n", mib(r.Load[0].Python.BaseRSS))
	}
	if len(r.Wire) > 0 {
		p("## Wire ceiling (grpc-go client stream, loopback, 1 MiB messages, 16 MiB windows, 256 KiB buffers, server decodes and drops)\n\n")
		p("| chunks from | bytes | messages | MB/s | CPU s per GB (client + server) |\n|---|---:|---:|---:|---:|\n")
		for _, s := range r.Wire {
			p("| %s | %s | %d | %.0f | %.2f |\n", s.Name, mib(s.Bytes), s.Messages, s.Stats.MBps, s.Stats.MedianCPUSeconds/(float64(s.Bytes)/1e9))
		}
		p("\n")
	}
	if e := r.E2E; e != nil {
		p("## End to end (POST /data/ingest/recruit → succeeded; 1 worker process; batch server --discard)\n\n")
		p("| file | size | rows | rows/s | MB/s | job time (started_at → finished_at) | wall (POST → seen succeeded) | first job of a fresh worker | worker peak RSS: first job / all jobs | RSS / pickle: first job / all |\n")
		p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		p("| %s | %s | %d | %.0f | %.0f | %.2f s | %.2f s | %.2f s (%.0f rows/s) | %s / %s | %.2fx / %.2fx |\n\n", e.File, mib(e.Bytes), e.Rows, e.Warm.RowsPerSec, e.Warm.MBps,
			e.Warm.MedianSeconds, e.Wall.MedianSeconds, e.Cold.MedianSeconds, e.Cold.RowsPerSec,
			mib(e.Cold.MedianPeakRSS), mib(e.Warm.MedianPeakRSS), e.ColdRSSVsPickle, e.RSSVsPickle)
		p("Each run starts a fresh worker and gives it the job %d times; the figures are the last (warm) job, as on a long-running worker. Peak RSS is VmHWM after the first job and after all. CPU time of the warm job: worker %.2f s, batch server %.2f s (first job: worker %.2f s).\n\n",
			e2eJobs, e.Warm.MedianCPUSeconds, e.MedianBatchServerCPU, e.Cold.MedianCPUSeconds)
	}
	if q := r.Queue; q != nil {
		p("## Queue overhead (%d jobs of 10 rows, %d workers × concurrency %d)\n\n", q.Jobs, q.Workers, q.Concurrency)
		p("| jobs/s (burst) | enqueue→start p50 / p99 (burst) | enqueue→start p50 / p99 (idle queue, %d jobs one at a time) |\n|---:|---:|---:|\n", q.IdleJobs)
		p("| %.0f | %.1f / %.1f ms | %.1f / %.1f ms |\n\n", q.Median.JobsPerSec, q.Median.BurstP50ms, q.Median.BurstP99ms, q.Median.IdleP50ms, q.Median.IdleP99ms)
	}
	if len(r.Scaling) > 0 {
		p("## Scaling (%d files of %d rows, worker concurrency 1)\n\n", r.Scaling[0].Files, r.Scaling[0].Rows/max(1, r.Scaling[0].Files))
		p("| workers | rows/s | MB/s | span (first start → last finish) |\n|---:|---:|---:|---:|\n")
		for _, s := range r.Scaling {
			p("| %d | %.0f | %.0f | %.2f s |\n", s.Workers, s.Span.RowsPerSec, s.Span.MBps, s.Span.MedianSeconds)
		}
		p("\n")
	}
	writeMemory(p, r)
	if len(r.Targets) > 0 {
		p("## Targets (issues 7 and 14)\n\n| target | measured | goal | met |\n|---|---:|---:|:---:|\n")
		for _, t := range r.Targets {
			cmp := "≥"
			if !t.Higher {
				cmp = "≤"
			}
			met := "no"
			if t.Met {
				met = "yes"
			}
			p("| %s | %.2f %s | %s %.2f %s | %s |\n", t.Name, t.Measured, t.Unit, cmp, t.Goal, t.Unit, met)
		}
		p("\n")
	}
	if len(r.Notes) > 0 {
		p("## Notes\n\n")
		for _, n := range r.Notes {
			p("- %s\n", strings.TrimSpace(n))
		}
	}
}

// wireSeconds is the wire-only time of bytes of chunks at the wire
// ceiling of this run's DataFrame chunks (strings + vectors, as the
// recruit files' chunks are); 0 without a wire stage.
func wireSeconds(r *report, bytes float64) float64 {
	if len(r.Wire) == 0 || r.Wire[0].Stats.MBps <= 0 {
		return 0
	}
	return bytes / 1e6 / r.Wire[0].Stats.MBps
}

func secs(v float64) string {
	if v <= 0 {
		return "–"
	}
	if v < 10 {
		return fmt.Sprintf("%.2f s", v)
	}
	return fmt.Sprintf("%.1f s", v)
}

// writeMemory renders the overlap, memory and resume sections.
func writeMemory(p func(string, ...any), r *report) {
	m := r.Memory
	if r.E2E != nil || m != nil {
		p("## Overlap (job time against load-only and wire-only times of the same run)\n\n")
		p("| file | read | job time | in the job: read + load / stream (validate) | load only | load + encode, no wire | wire only | load + encode + wire | job / (load + encode + wire) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
		if e := r.E2E; e != nil {
			load := 0.0
			for _, l := range r.Load {
				if l.File == e.File {
					load = l.Go.MedianSeconds
				}
			}
			wire := 0.0
			for _, w := range r.Wire {
				if w.File == e.File {
					wire = w.Stats.MedianSeconds
				}
			}
			le := e.LoadEncode.MedianSeconds
			p("| %s (%s) | whole | %s | %s | %s | %s | %s | %s | %s |\n", e.File, mib(e.Bytes), secs(e.Warm.MedianSeconds), phaseCell(e.MedianWarmPhases),
				secs(load), secs(le), secs(wire), secs(le+wire), ratio(e.Warm.MedianSeconds, le+wire))
		}
		if m != nil {
			for _, f := range m.Files {
				if f.JobSeconds <= 0 {
					continue
				}
				read := "whole"
				if f.Lazy {
					read = "in windows"
				}
				if f.LoadError != "" {
					read = "–"
				}
				wire := wireSeconds(r, float64(f.BytesSent))
				p("| %s (%s) | %s | %s | %s | – | %s | %s | %s | %s |\n", f.File, mib(f.Bytes), read, secs(f.JobSeconds), phaseCell(f.Phases),
					secs(f.LoadSeconds), secs(wire), secs(f.LoadSeconds+wire), ratio(f.JobSeconds, f.LoadSeconds+wire))
			}
		}
		p("\nLoad only: the load stage's median (the file read whole and decoded). Load + encode: `embench load --encode`, the file loaded as the worker's job loads it (with the memory stage's budget: mapped, and read in windows when its table would not fit) and every chunk encoded and dropped, without validation; for the memory stage's files in a cgroup of the same limit as the worker. Wire only: the wire stage's time for the same chunks (for the memory stage's files, the bytes the job sent at the DataFrame chunks' wire ceiling). A ratio under 1 means the job overlaps loading and sending; 1 means one after the other. In the job: the worker's own phase timings (embedstream_worker_phase_duration_seconds) of the same jobs: read (open, map or read the file), load (decode it whole; for a file read in windows, index it), stream (send every chunk and commit: for a file read in windows, the windows are decoded during it), validate (the domain's checks, alongside the stream).\n\n")
	}
	if m != nil {
		p("## Memory against file size (one worker in a memory cgroup of %s; batch server --discard)\n\n", mib(m.LimitBytes))
		p("%s. Job budget %s (the limit less %s for the runtime, clients and buffers). One job per file on a fresh worker in a fresh cgroup; each figure is one run.\n\n", m.Cgroup, mib(m.Budget), mib(memReserve))
		p("| file | size | rows | read | job time | rows/s | MB/s | worker CPU | peak RssAnon | peak RSS (VmHWM) | cgroup peak | OOM kills | exact | load + encode, no wire: time / peak RssAnon |\n|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|\n")
		for _, f := range m.Files {
			read, exact := "whole", "yes"
			if f.Lazy {
				read = "in windows"
			}
			if f.LoadError != "" {
				read = "–"
			}
			if !f.Exact {
				exact = "**no**"
			}
			p("| %s | %s | %d | %s | %s | %.0f | %.0f | %.1f s | %s | %s | %s | %d | %s | %s / %s |\n", f.File, mib(f.Bytes), f.Rows, read, secs(f.JobSeconds), f.RowsPerSec, f.MBps, f.WorkerCPU,
				mib(f.Worker.PeakRssAnon), mib(f.Worker.VmHWM), mib(f.Worker.CgroupPeak), f.Worker.OOMKills, exact, secs(f.LoadSeconds), mib(f.Load.PeakRssAnon))
		}
		p("\nExact: %s.\n\n", m.Check)
		for _, f := range m.Files {
			if f.Error != "" || f.CheckNote != "" || f.LoadError != "" {
				p("- %s: %s\n", f.File, strings.Join(slices.DeleteFunc([]string{f.Error, f.CheckNote, f.LoadError}, func(s string) bool { return s == "" }), "; "))
			}
		}
	}
	if rs := r.Resume; rs != nil && rs.Chunks > 0 {
		p("## Resume (a worker SIGKILLed at 90 %% of a stream; another worker finishes the job)\n\n")
		p("%s (%s, %d rows), workers as in the memory stage (%s), ACK_WAIT %.0f s. The bench polls the batch server's GetIngestState and kills the worker once 90 %% of the records are staged.\n\n", rs.File, mib(rs.Bytes), rs.Rows, rs.Cgroup, rs.AckWaitSeconds)
		p("| chunks in the stream | staged at the kill | attempt 2 resumed at | chunks re-sent | bytes re-sent | stream bytes | attempt 1 until the kill | kill → attempt 2 starts | attempt 2 | attempt 2 peak RssAnon / OOM kills | exact |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|\n")
		exact := "yes"
		if !rs.Exact {
			exact = "**no**: " + rs.CheckNote
		}
		streamBytes, pct := "–", ""
		if rs.StreamBytes > 0 {
			streamBytes = mib(int64(rs.StreamBytes))
			pct = fmt.Sprintf(" (%.1f %%)", 100*float64(rs.ResentBytes)/float64(rs.StreamBytes))
		}
		p("| %d | %d chunks, %d records | chunk %d | %d (%.1f %%) | %s%s | %s | %s | %s | %s | %s / %d | %s |\n\n", rs.Chunks, rs.StagedChunksAtKill, rs.StagedRecordsAtKill, rs.ResumedFrom,
			rs.ResentChunks, 100*float64(rs.ResentChunks)/float64(max(1, rs.Chunks)), mib(int64(rs.ResentBytes)), pct, streamBytes,
			secs(rs.Attempt1Seconds), secs(rs.RedeliverySeconds), secs(rs.Attempt2Seconds), mib(rs.Worker.PeakRssAnon), rs.Worker.OOMKills, exact)
		p("Chunks and bytes sent in all: the stream's once, plus the chunks attempt 1 had on the wire that the server had not staged when it died (attempt 2 starts at the server's last synced boundary). Stream bytes are the memory stage's job of the same file; bytes re-sent are attempt 2's bytes_sent.\n\n")
	}
}

func phaseCell(p jobPhases) string {
	if p.Stream <= 0 {
		return "–"
	}
	return fmt.Sprintf("%s / %s (%s)", secs(p.Read+p.Load), secs(p.Stream), secs(p.Validate))
}

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}
