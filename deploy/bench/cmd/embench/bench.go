package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
)

// benchEnv is what every stage needs.
type benchEnv struct {
	n       int
	runs    int
	scratch string // deploy/bench/scratch
	data    string // scratch/data: the generated pickles
	bin     string // built binaries: worker, publisher-dev, batchserver, embench
	out     string // results directory
	python  string
	pyload  string // pyload.py
	profile bool
	rep     *report

	memSizes []string // sizes of the memory stage's files (picklegen --size)
	memLimit int64    // the memory cgroup's limit
}

func (e *benchEnv) file(name string) string { return filepath.Join(e.data, name) }

func (e *benchEnv) dfFile() string      { return fmt.Sprintf("recruit_df_%d_d384.pkl", e.n) }
func (e *benchEnv) recordsFile() string { return fmt.Sprintf("recruit_records_%d_d384.pkl", e.n) }
func (e *benchEnv) ndarrayFile() string { return fmt.Sprintf("ndarray_%d_d768.pkl", e.n) }

const tinyFile = "recruit_df_10_d384.pkl"

func (e *benchEnv) logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// runBench runs the stages and writes latest.json and latest.md.
func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	e := &benchEnv{}
	fs.IntVar(&e.n, "n", 100_000, "rows of the generated files")
	fs.IntVar(&e.runs, "runs", 3, "runs per figure (the median is reported)")
	fs.StringVar(&e.scratch, "scratch", "deploy/bench/scratch", "scratch directory (data/ inside holds the pickles)")
	fs.StringVar(&e.bin, "bin", "deploy/bench/scratch/bin", "directory of the built binaries")
	fs.StringVar(&e.out, "out", "deploy/bench/results", "results directory")
	fs.StringVar(&e.python, "python", "/usr/bin/python3", "Python with pandas and numpy, for the CPython baseline")
	fs.StringVar(&e.pyload, "pyload", "deploy/bench/pyload.py", "the CPython baseline script")
	fs.BoolVar(&e.profile, "profile", true, "take CPU and allocation profiles of the loader and of a worker")
	stages := fs.String("stages", "load,wire,e2e,queue,scaling,memory,resume", "stages to run, comma-separated")
	memSizes := fs.String("memory-sizes", "200M,1G,2.1G", "sizes of the memory stage's files, comma-separated (k, M, G: powers of 1000); the resume stage uses the last")
	memLimit := fs.Int64("memory-limit-mib", 256, "memory cgroup limit of the memory and resume stages' workers, MiB")
	command := fs.String("command", "deploy/bench/run", "the command line to record in the report")
	if err := fs.Parse(args); err != nil {
		return err
	}
	e.data = filepath.Join(e.scratch, "data")
	e.memLimit = *memLimit << 20
	for sz := range strings.SplitSeq(*memSizes, ",") {
		if sz = strings.TrimSpace(sz); sz == "" {
			continue
		}
		if _, err := parseSize(sz); err != nil {
			return err
		}
		e.memSizes = append(e.memSizes, sz)
	}
	if len(e.memSizes) == 0 {
		return errors.New("--memory-sizes: want at least one size")
	}
	for _, p := range []*string{&e.scratch, &e.data, &e.bin, &e.out, &e.pyload} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	if err := os.MkdirAll(e.tmpDir(), 0o755); err != nil {
		return err
	}
	e.rep = &report{GeneratedAt: time.Now().UTC(), Command: *command, Machine: describeMachine(e.python), N: e.n, Runs: e.runs}
	e.rep.Commit, e.rep.Dirty = gitState(ctx)
	e.rep.Notes = append(e.rep.Notes,
		"This machine is shared: other engineers' builds and tests may have competed for the 2 CPUs during the run (see the load averages); re-run on an idle machine for publishable figures.")
	if e.n < 100_000 {
		e.rep.Notes = append(e.rep.Notes, fmt.Sprintf(
			"N = %d: the issue-7 targets are set for N = 100,000. With small files, fixed costs (process start, the Go runtime's and CPython's own memory, job set-up) dominate the ratios, so the targets table says little.", e.n))
	}
	want := strings.Split(*stages, ",")
	type stage struct {
		name string
		run  func(context.Context, *benchEnv) error
	}
	var errs []error
	for _, s := range []stage{{"load", stageLoad}, {"wire", stageWire}, {"e2e", stageE2E}, {"queue", stageQueue}, {"scaling", stageScaling}, {"memory", stageMemory}, {"resume", stageResume}} {
		if !slices.Contains(want, s.name) {
			continue
		}
		e.logf("stage %s", s.name)
		if err := s.run(ctx, e); err != nil {
			errs = append(errs, fmt.Errorf("stage %s: %w", s.name, err))
			e.rep.Notes = append(e.rep.Notes, fmt.Sprintf("stage %s failed: %v", s.name, err))
			e.logf("stage %s failed: %v", s.name, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	e.rep.Machine.LoadAfter = loadavg()
	e.rep.Targets = targets(e.rep)
	if err := writeReport(e); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func writeReport(e *benchEnv) error {
	if err := os.MkdirAll(e.out, 0o755); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	js, err := json.MarshalIndent(e.rep, "", "  ")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(e.out, "latest.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	var md bytes.Buffer
	writeMarkdown(&md, e.rep)
	if err := os.WriteFile(filepath.Join(e.out, "latest.md"), md.Bytes(), 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	_, err = os.Stdout.Write(md.Bytes())
	return err
}

// stageLoad: the project's loader and CPython on the three files, each run
// a process of its own, alternating so both see the same machine.
func stageLoad(ctx context.Context, e *benchEnv) error {
	files := []struct{ key, name, file string }{
		{"dataframe_d384", "DataFrame d384 (protocol 5)", e.dfFile()},
		{"records_d384", "list of dicts d384 (protocol 4)", e.recordsFile()},
		{"ndarray_d768", "ndarray d768 (protocol 5)", e.ndarrayFile()},
	}
	self := filepath.Join(e.bin, "embench")
	for _, f := range files {
		path := e.file(f.file)
		st := loadStage{Name: f.name, File: f.file}
		var reads []float64
		for i := 0; i < e.runs; i++ {
			var g, py loadResult
			if err := runJSON(ctx, &g, self, "load", "--file", path); err != nil {
				return err
			}
			if err := runJSON(ctx, &py, e.python, e.pyload, path); err != nil {
				return err
			}
			if g.Rows != py.Rows {
				return fmt.Errorf("%s: the loader read %d rows, CPython %d", f.file, g.Rows, py.Rows)
			}
			st.Bytes, st.Rows = g.Bytes, g.Rows
			st.Go.Seconds = append(st.Go.Seconds, g.Seconds)
			reads = append(reads, g.ReadSeconds)
			st.Go.CPUSeconds = append(st.Go.CPUSeconds, g.CPUSeconds)
			st.Python.CPUSeconds = append(st.Python.CPUSeconds, py.CPUSeconds)
			st.Go.PeakRSS = append(st.Go.PeakRSS, g.PeakRSSBytes)
			st.Go.BaseRSS = g.BaseRSSBytes
			st.Python.Seconds = append(st.Python.Seconds, py.Seconds)
			st.Python.PeakRSS = append(st.Python.PeakRSS, py.PeakRSSBytes)
			st.Python.BaseRSS = py.BaseRSSBytes
		}
		st.Go.finish(st.Bytes, st.Rows)
		st.GoReadSeconds = median(reads)
		st.Python.finish(st.Bytes, st.Rows)
		if st.Python.MBps > 0 {
			st.Ratio = st.Go.MBps / st.Python.MBps
		}
		if st.Go.MedianCPUSeconds > 0 {
			st.CPURatio = st.Python.MedianCPUSeconds / st.Go.MedianCPUSeconds
		}
		e.logf("  %s: Go %.0f MB/s, CPython %.0f MB/s (%.2fx)", f.file, st.Go.MBps, st.Python.MBps, st.Ratio)
		e.rep.Load = append(e.rep.Load, st)
		if e.profile {
			if err := profileLoad(ctx, e, f.key, f.file); err != nil {
				return err
			}
		}
	}
	return nil
}

// profileLoad takes CPU and allocation profiles of one load and writes the
// top of each as text under results/profiles, named after key.
func profileLoad(ctx context.Context, e *benchEnv, key, file string) error {
	stem := key
	cpu := filepath.Join(e.scratch, "profiles", "load_"+stem+".cpu.prof")
	mem := filepath.Join(e.scratch, "profiles", "load_"+stem+".allocs.prof")
	if err := os.MkdirAll(filepath.Dir(cpu), 0o755); err != nil {
		return err
	}
	var g loadResult
	if err := runJSON(ctx, &g, filepath.Join(e.bin, "embench"), "load", "--file", e.file(file), "--cpuprofile", cpu, "--memprofile", mem); err != nil {
		return err
	}
	return topProfiles(ctx, e, "load_"+stem, cpu, mem)
}

// topProfiles writes `go tool pprof -top` of a CPU and an allocation
// profile into results/profiles/<name>.txt.
func topProfiles(ctx context.Context, e *benchEnv, name, cpu, mem string) error {
	var out bytes.Buffer
	for _, p := range []struct {
		title, file string
		args        []string
	}{
		{"CPU, by own time", cpu, nil},
		{"CPU, cumulative", cpu, []string{"-cum"}},
		{"allocated bytes (alloc_space)", mem, []string{"-sample_index=alloc_space"}},
		{"live bytes at the end (inuse_space)", mem, []string{"-sample_index=inuse_space"}},
	} {
		args := append([]string{"tool", "pprof", "-top", "-nodecount=25"}, p.args...)
		cmd := exec.CommandContext(ctx, "go", append(args, p.file)...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("pprof %s: %w: %s", p.file, err, b)
		}
		fmt.Fprintf(&out, "### %s: %s\n\n%s\n", p.title, filepath.Base(p.file), b)
	}
	dir := filepath.Join(e.out, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".txt"), out.Bytes(), 0o644)
}

// stageWire: the grpc-go ceiling with chunks from the DataFrame and from
// the ndarray.
func stageWire(ctx context.Context, e *benchEnv) error {
	for _, f := range []struct{ name, file string }{
		{"DataFrame d384 (strings + vectors)", e.dfFile()},
		{"ndarray d768 (vectors only)", e.ndarrayFile()},
	} {
		var w wireResult
		if err := runJSON(ctx, &w, filepath.Join(e.bin, "embench"), "wire", "--file", e.file(f.file), "--reps", fmt.Sprint(e.runs)); err != nil {
			return err
		}
		st := wireStage{Name: f.name, File: f.file, Bytes: w.Bytes, Messages: w.Messages, Stats: runStats{Seconds: w.Seconds, CPUSeconds: w.CPUSeconds}}
		st.Stats.finish(w.Bytes, 0)
		e.logf("  %s: %.0f MB/s", f.file, st.Stats.MBps)
		e.rep.Wire = append(e.rep.Wire, st)
	}
	return nil
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// e2eJobs is how many times each end-to-end run sends the job to its fresh
// worker: the first is "cold" (the process grows its heap and faults its
// memory in), the last "warm", as on a long-running worker.
const e2eJobs = 3

// stageE2E: the DataFrame through the local stack, e2eJobs jobs on a fresh
// worker process per run; the worker's peak RSS is read after the first
// job and after the last.
func stageE2E(ctx context.Context, e *benchEnv) error {
	s, err := startStack(ctx, filepath.Join(e.scratch, "stack-e2e"), e.bin, e.data)
	if err != nil {
		return err
	}
	defer s.close()
	file := e.dfFile()
	size, err := fileSize(e.file(file))
	if err != nil {
		return err
	}
	st := &e2eStage{File: file, Bytes: size}
	for i := 0; i < e.runs; i++ {
		w, err := s.startWorker(ctx, filepath.Join(e.bin, "worker"), nil, 1)
		if err != nil {
			return err
		}
		for j := range e2eJobs {
			r := &runStats{} // a middle job: measured, not reported
			switch j {
			case 0:
				r = &st.Cold
			case e2eJobs - 1:
				r = &st.Warm
			}
			wcpu, bcpu := procCPU(w.pid()), procCPU(s.batch.pid())
			ph0 := s.phases(w)
			start := time.Now()
			id, err := s.enqueue(ctx, file)
			if err != nil {
				return err
			}
			js, err := s.wait(ctx, id, 5*time.Millisecond, 5*time.Minute)
			if err != nil {
				return err
			}
			st.Rows = int(js.RecordsTotal)
			r.Seconds = append(r.Seconds, js.FinishedAt.Sub(js.StartedAt).Seconds())
			r.CPUSeconds = append(r.CPUSeconds, procCPU(w.pid())-wcpu)
			r.PeakRSS = append(r.PeakRSS, w.peakRSS()) // VmHWM so far
			if r == &st.Warm {
				st.WarmPhases = append(st.WarmPhases, phaseDelta(ph0, s.phases(w)))
				st.Wall.Seconds = append(st.Wall.Seconds, time.Since(start).Seconds())
				st.BatchServerCPU = append(st.BatchServerCPU, procCPU(s.batch.pid())-bcpu)
			}
		}
		rss := w.peakRSS()
		if err := s.stopWorkers(); err != nil {
			return err
		}
		e.logf("  run %d: cold job %.2fs, warm job %.2fs (%.0f rows/s), worker peak RSS %s after the first job, %s after all", i+1,
			st.Cold.Seconds[i], st.Warm.Seconds[i], float64(st.Rows)/st.Warm.Seconds[i], mib(st.Cold.PeakRSS[i]), mib(rss))
	}
	for i := 0; i < e.runs; i++ {
		var r loadResult
		if err := runJSON(ctx, &r, filepath.Join(e.bin, "embench"), "load", "--encode", "--file", e.file(file)); err != nil {
			return err
		}
		st.LoadEncode.Seconds = append(st.LoadEncode.Seconds, r.Seconds)
		st.LoadEncode.CPUSeconds = append(st.LoadEncode.CPUSeconds, r.CPUSeconds)
		st.LoadEncode.PeakRSS = append(st.LoadEncode.PeakRSS, r.PeakRSSBytes)
	}
	st.LoadEncode.finish(st.Bytes, st.Rows)
	e.logf("  load + encode without the wire: %.2fs", st.LoadEncode.MedianSeconds)
	st.Cold.finish(st.Bytes, st.Rows)
	st.Warm.finish(st.Bytes, st.Rows)
	st.Wall.finish(st.Bytes, st.Rows)
	st.MedianBatchServerCPU = median(st.BatchServerCPU)
	st.MedianWarmPhases = medianPhases(st.WarmPhases)
	st.RSSVsPickle = float64(st.Warm.MedianPeakRSS) / float64(st.Bytes)
	st.ColdRSSVsPickle = float64(st.Cold.MedianPeakRSS) / float64(st.Bytes)
	e.rep.E2E = st
	if e.profile {
		return profileWorker(ctx, e, s, file)
	}
	return nil
}

// profileWorker runs one more end-to-end job on `embench worker`, the
// worker's wiring with profiling, and writes the top of its profiles.
func profileWorker(ctx context.Context, e *benchEnv, s *stack, file string) error {
	dir := filepath.Join(e.scratch, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cpu, mem := filepath.Join(dir, "worker_e2e.cpu.prof"), filepath.Join(dir, "worker_e2e.allocs.prof")
	if _, err := s.startWorker(ctx, filepath.Join(e.bin, "embench"), []string{"worker", "--cpuprofile", cpu, "--memprofile", mem}, 1); err != nil {
		return err
	}
	id, err := s.enqueue(ctx, file)
	if err != nil {
		return err
	}
	if _, err := s.wait(ctx, id, 5*time.Millisecond, 5*time.Minute); err != nil {
		return err
	}
	if err := s.stopWorkers(); err != nil {
		return err
	}
	return topProfiles(ctx, e, "worker_e2e", cpu, mem)
}

// stageQueue: 1,000 tiny jobs through 2 workers, enqueued in a burst; then
// jobs one at a time on an idle queue for the latency target.
func stageQueue(ctx context.Context, e *benchEnv) error {
	s, err := startStack(ctx, filepath.Join(e.scratch, "stack-queue"), e.bin, e.data)
	if err != nil {
		return err
	}
	defer s.close()
	q := &queueStage{Jobs: 1000, Workers: 2, Concurrency: 2, IdleJobs: 100}
	for range q.Workers {
		if _, err := s.startWorker(ctx, filepath.Join(e.bin, "worker"), nil, q.Concurrency); err != nil {
			return err
		}
	}
	for i := 0; i < e.runs; i++ {
		ids, err := enqueueBurst(ctx, s, q.Jobs, tinyFile)
		if err != nil {
			return err
		}
		sts := make([]queue.Status, 0, len(ids))
		for _, id := range ids {
			st, err := s.wait(ctx, id, 20*time.Millisecond, 5*time.Minute)
			if err != nil {
				return err
			}
			sts = append(sts, st)
		}
		first, last := sts[0].EnqueuedAt, sts[0].FinishedAt
		var lat []float64
		for _, st := range sts {
			if st.EnqueuedAt.Before(first) {
				first = st.EnqueuedAt
			}
			if st.FinishedAt.After(last) {
				last = st.FinishedAt
			}
			lat = append(lat, ms(st.StartedAt.Sub(st.EnqueuedAt)))
		}
		q.JobsPerSec = append(q.JobsPerSec, float64(len(sts))/last.Sub(first).Seconds())
		q.BurstP50ms = append(q.BurstP50ms, percentile(lat, 50))
		q.BurstP99ms = append(q.BurstP99ms, percentile(lat, 99))

		lat = lat[:0]
		for range q.IdleJobs {
			id, err := s.enqueue(ctx, tinyFile)
			if err != nil {
				return err
			}
			st, err := s.wait(ctx, id, 2*time.Millisecond, time.Minute)
			if err != nil {
				return err
			}
			lat = append(lat, ms(st.StartedAt.Sub(st.EnqueuedAt)))
		}
		q.IdleP50ms = append(q.IdleP50ms, percentile(lat, 50))
		q.IdleP99ms = append(q.IdleP99ms, percentile(lat, 99))
		e.logf("  run %d: %.0f jobs/s, burst p50/p99 %.1f/%.1f ms, idle p50/p99 %.1f/%.1f ms", i+1,
			q.JobsPerSec[i], q.BurstP50ms[i], q.BurstP99ms[i], q.IdleP50ms[i], q.IdleP99ms[i])
	}
	q.Median.JobsPerSec = median(q.JobsPerSec)
	q.Median.BurstP50ms, q.Median.BurstP99ms = median(q.BurstP50ms), median(q.BurstP99ms)
	q.Median.IdleP50ms, q.Median.IdleP99ms = median(q.IdleP50ms), median(q.IdleP99ms)
	e.rep.Queue = q
	if err := s.stopWorkers(); err != nil {
		return err
	}
	if e.profile {
		return profileQueue(ctx, e, s, q)
	}
	return nil
}

// profileQueue runs one more burst on two `embench worker`s and writes the
// top of the first one's profiles: where a tiny job's time goes.
func profileQueue(ctx context.Context, e *benchEnv, s *stack, q *queueStage) error {
	dir := filepath.Join(e.scratch, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cpu, mem := filepath.Join(dir, "worker_queue.cpu.prof"), filepath.Join(dir, "worker_queue.allocs.prof")
	args := [][]string{{"worker", "--cpuprofile", cpu, "--memprofile", mem}, {"worker"}}
	for _, a := range args[:q.Workers] {
		if _, err := s.startWorker(ctx, filepath.Join(e.bin, "embench"), a, q.Concurrency); err != nil {
			return err
		}
	}
	ids, err := enqueueBurst(ctx, s, q.Jobs, tinyFile)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := s.wait(ctx, id, 20*time.Millisecond, 5*time.Minute); err != nil {
			return err
		}
	}
	if err := s.stopWorkers(); err != nil {
		return err
	}
	return topProfiles(ctx, e, "worker_queue", cpu, mem)
}

// medianPhases is the median of each phase.
func medianPhases(ps []jobPhases) jobPhases {
	pick := func(f func(jobPhases) float64) float64 {
		xs := make([]float64, len(ps))
		for i, p := range ps {
			xs[i] = f(p)
		}
		return median(xs)
	}
	return jobPhases{
		Read:     pick(func(p jobPhases) float64 { return p.Read }),
		Load:     pick(func(p jobPhases) float64 { return p.Load }),
		Validate: pick(func(p jobPhases) float64 { return p.Validate }),
		Stream:   pick(func(p jobPhases) float64 { return p.Stream }),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// enqueueBurst posts n jobs for file from 8 concurrent clients.
func enqueueBurst(ctx context.Context, s *stack, n int, file string) ([]string, error) {
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				ids[i], errs[i] = s.enqueue(ctx, file)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return ids, errors.Join(errs...)
}

// stageScaling: 4 copies of the DataFrame through 1 and then 2 workers of
// concurrency 1.
func stageScaling(ctx context.Context, e *benchEnv) error {
	const files = 4
	names := make([]string, files)
	var size int64
	for i := range names {
		names[i] = fmt.Sprintf("scale_%d_%s", i+1, e.dfFile())
		dst := e.file(names[i])
		if _, err := os.Stat(dst); err != nil {
			if err := os.Link(e.file(e.dfFile()), dst); err != nil {
				return fmt.Errorf("scaling: %w", err)
			}
		}
		sz, err := fileSize(dst)
		if err != nil {
			return err
		}
		size += sz
	}
	s, err := startStack(ctx, filepath.Join(e.scratch, "stack-scaling"), e.bin, e.data)
	if err != nil {
		return err
	}
	defer s.close()
	for _, k := range []int{1, 2} {
		for range k {
			if _, err := s.startWorker(ctx, filepath.Join(e.bin, "worker"), nil, 1); err != nil {
				return err
			}
		}
		st := scalingStage{Workers: k, Files: files, Bytes: size}
		for i := 0; i < e.runs; i++ {
			var ids []string
			for _, n := range names {
				id, err := s.enqueue(ctx, n)
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			var first, last time.Time
			rows := 0
			for _, id := range ids {
				js, err := s.wait(ctx, id, 10*time.Millisecond, 10*time.Minute)
				if err != nil {
					return err
				}
				rows += int(js.RecordsTotal)
				if first.IsZero() || js.StartedAt.Before(first) {
					first = js.StartedAt
				}
				if js.FinishedAt.After(last) {
					last = js.FinishedAt
				}
			}
			st.Rows = rows
			st.Span.Seconds = append(st.Span.Seconds, last.Sub(first).Seconds())
			e.logf("  %d worker(s), run %d: %.2fs, %.0f rows/s", k, i+1, last.Sub(first).Seconds(), float64(rows)/last.Sub(first).Seconds())
		}
		st.Span.finish(st.Bytes, st.Rows)
		e.rep.Scaling = append(e.rep.Scaling, st)
		if err := s.stopWorkers(); err != nil {
			return err
		}
	}
	return nil
}

// previousE2ERowsPerSec is the warm end-to-end rate of the run published
// before issue 14 (results/latest.json at d2aaa01): issue 14 must not fall
// below it.
const previousE2ERowsPerSec = 134975

// targets evaluates issue 7's and issue 14's goals on what was measured.
func targets(r *report) []target {
	var ts []target
	for i, l := range r.Load {
		goal, rssGoal := 1.0, 2.0
		if i == 1 { // list of dicts
			goal, rssGoal = 0.7, 4.0
		}
		ts = append(ts, newTarget("load "+l.Name+": Go / CPython throughput", l.Ratio, goal, "x", true))
		if l.Bytes > 0 {
			ts = append(ts, newTarget("load "+l.Name+": loader peak RSS / pickle size", float64(l.Go.MedianPeakRSS)/float64(l.Bytes), rssGoal, "x", false))
		}
	}
	if e := r.E2E; e != nil {
		ts = append(ts, newTarget("end to end, DataFrame d384, 1 worker, warm (rows / job time)", e.Warm.RowsPerSec, 100_000, "rows/s", true))
		ts = append(ts, newTarget("end to end: worker peak RSS / pickle size, first job of a fresh worker (DataFrame)", e.ColdRSSVsPickle, 2, "x", false))
		ts = append(ts, newTarget("end to end: worker peak RSS / pickle size, over all jobs of a run (DataFrame)", e.RSSVsPickle, 2, "x", false))
	}
	if q := r.Queue; q != nil {
		ts = append(ts, newTarget("enqueue-to-start p99, idle queue", q.Median.IdleP99ms, 20, "ms", false))
	}
	if e := r.E2E; e != nil {
		ts = append(ts, newTarget("issue 14: end to end, DataFrame d384, warm, not below the previous published run", e.Warm.RowsPerSec, previousE2ERowsPerSec, "rows/s", true))
	}
	if m := r.Memory; m != nil {
		for _, f := range m.Files {
			if f.Bytes < 2e9 {
				continue
			}
			ok := 0.0
			if f.Exact && f.Error == "" && f.Worker.OOMKills == 0 && f.Worker.PeakRssAnon > 0 && f.Worker.PeakRssAnon <= m.LimitBytes {
				ok = 1
			}
			ts = append(ts, newTarget(fmt.Sprintf("issue 14: %s (%s) ingested exactly by a worker limited to %s, no OOM kill", f.File, mib(f.Bytes), mib(m.LimitBytes)), ok, 1, "(1 = yes)", true))
		}
	}
	if rs := r.Resume; rs != nil && rs.Chunks > 0 {
		ts = append(ts, newTarget("issue 14: chunks re-sent after a kill at 90 %", 100*float64(rs.ResentChunks)/float64(rs.Chunks), 20, "%", false))
	}
	return ts
}

// describeMachine records the CPU, memory, kernel, Go and Python.
func describeMachine(python string) machine {
	m := machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version(), LoadBefore: loadavg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	m.MemBytes = procMeminfo("MemTotal")
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := exec.Command(python, "-c", "import sys, pandas, numpy; print('CPython %d.%d.%d, pandas %s, numpy %s' % (sys.version_info[:3] + (pandas.__version__, numpy.__version__)))").Output(); err == nil {
		m.Python = strings.TrimSpace(string(b))
	}
	return m
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func procMeminfo(field string) int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			fmt.Sscan(rest, &kb)
			return kb * 1024
		}
	}
	return 0
}

// gitState returns the short commit of the work tree and whether Go code
// outside deploy/bench has uncommitted changes (empty, false outside git).
func gitState(ctx context.Context) (string, bool) {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "", false
	}
	st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--", "*.go", ":!deploy/bench").Output()
	return strings.TrimSpace(string(out)), err == nil && len(bytes.TrimSpace(st)) > 0
}
