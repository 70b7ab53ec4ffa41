package ingest_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/memcg"
	"github.com/embedstream/embedstream/internal/picklegen"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/queue"
)

// writeGenerated writes spec's pickle of shape into the data directory as
// name and returns its size.
func (e *env) writeGenerated(name string, spec picklegen.Spec, shape picklegen.Shape) int64 {
	e.t.Helper()
	f, err := os.Create(filepath.Join(e.dataDir, name))
	if err != nil {
		e.t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	n, err := picklegen.Write(w, spec.Source(), shape)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// checkExactShape is checkExact for a file of any shape.
func checkExactShape(t *testing.T, path string, spec picklegen.Spec, shape picklegen.Shape) {
	t.Helper()
	want, err := picklegen.Expect(spec.Source(), shape)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := picklegen.Summarize(f)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(want) {
		t.Fatalf("committed JSONL %+v differs from the expected %+v", got, want)
	}
}

// waitFinishedWithin waits up to d for job id to succeed or fail.
func (e *env) waitFinishedWithin(id string, d time.Duration) queue.Status {
	e.t.Helper()
	var s queue.Status
	polltest.Until(e.t, d, "job "+id+" finished", func() bool {
		var err error
		s, err = e.q.GetStatus(e.t.Context(), id)
		return err == nil && finished(s)
	})
	return s
}

// boundedFile is one generated file of a bounded-memory test.
type boundedFile struct {
	name  string
	shape picklegen.Shape
	spec  picklegen.Spec
	bytes int64
}

// generateBounded writes a DataFrame and a records pickle of about size
// bytes each into e's data directory.
func (e *env) generateBounded(size int64) []boundedFile {
	e.t.Helper()
	var files []boundedFile
	for _, f := range []struct {
		name  string
		shape picklegen.Shape
		seed  uint64
	}{{"frame.pkl", picklegen.Frame, 21}, {"records.pkl", picklegen.Records, 22}} {
		rows, err := picklegen.RowsFor(size, 384, f.seed, f.shape)
		if err != nil {
			e.t.Fatal(err)
		}
		spec := picklegen.Spec{Rows: rows, Dim: 384, Seed: f.seed}
		n := e.writeGenerated(f.name, spec, f.shape)
		files = append(files, boundedFile{f.name, f.shape, spec, n})
	}
	return files
}

// memoryWorker starts a worker process in a new memory cgroup of limit
// bytes, with WORKER_CONCURRENCY=1 and the extra settings env, and
// watches its anonymous memory.
func (e *env) memoryWorker(name string, limit int64, env ...string) (*proc, *memcg.Group, *memcg.Watcher) {
	e.t.Helper()
	g, err := memcg.New("embedstream-test-"+name, limit)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if err := g.Close(); err != nil {
			e.t.Logf("remove cgroup: %v", err)
		}
	})
	p := e.startProcessWith(name, g.Start, append([]string{"WORKER_CONCURRENCY=1", "SCRATCH_DIR=" + e.t.TempDir()}, env...)...)
	return p, g, memcg.StartWatch(p.cmd.Process.Pid, 5*time.Millisecond)
}

// report logs what a worker process and its cgroup used.
func report(t *testing.T, what string, g *memcg.Group, w *memcg.Watcher, p *proc) {
	t.Helper()
	pm := w.Stop()
	st, err := g.Stats()
	if err != nil {
		t.Logf("%s: cgroup stats: %v", what, err)
	}
	t.Logf("%s: limit %d MiB; peak RssAnon %.1f MiB, VmHWM %.1f MiB (mapped file pages included), cgroup peak %.1f MiB (page cache included), OOM kills %d",
		what, g.Limit()>>20, mib(pm.PeakRssAnon), mib(pm.VmHWM), mib(st.Peak), st.OOMKills)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// boundedLimit is the memory cgroup limit of TestProcessBoundedMemory's
// worker, and boundedSize the size of each of its files: three times it.
const (
	boundedLimit = 128 << 20
	boundedSize  = 3 * boundedLimit
)

// TestProcessBoundedMemory runs a worker process in a memory cgroup of 128
// MiB (as root, where the machine has cgroup v1 or v2; skipped otherwise)
// on a generated DataFrame and a records pickle of 384 MiB each, three
// times its memory: with MEMORY_LIMIT=auto (the cgroup's limit) it ingests
// both exactly, reading them in windows; the same worker with
// MEMORY_LIMIT=none (every file decoded whole, as before issue 14) is
// OOM-killed or fails on the same file under the same limit.
func TestProcessBoundedMemory(t *testing.T) {
	if err := memcg.Available(); err != nil {
		t.Skipf("needs a memory cgroup: %v", err)
	}
	if testing.Short() {
		t.Skip("writes two files of 384 MiB")
	}
	e := newEnv(t, envOpts{AckWait: 10 * time.Second})
	files := e.generateBounded(boundedSize)

	// Without the budget: decoding the DataFrame whole does not fit.
	eager, g, w := e.memoryWorker("eager", boundedLimit, "MEMORY_LIMIT=none")
	id := e.enqueue(queue.Job{ID: "eager-frame", Domain: "recruit", FileName: files[0].name})
	select {
	case <-eager.exited:
	case <-time.After(4 * waitTimeout):
		t.Fatalf("the worker without a memory budget is still running on %s", files[0].name)
	}
	report(t, "MEMORY_LIMIT=none, "+files[0].name, g, w, eager)
	st, _ := g.Stats()
	var exit *exec.ExitError
	if st.OOMKills == 0 && !(errors.As(eager.waitErr, &exit) && !exit.Exited()) {
		s, _ := e.q.GetStatus(t.Context(), id)
		t.Fatalf("without a budget the worker exited with %v (OOM kills %d), status %+v: want it killed for memory", eager.waitErr, st.OOMKills, s)
	}

	// With it: both files, exactly; the job above is redelivered here.
	lazy, g, w := e.memoryWorker("bounded", boundedLimit, "MEMORY_LIMIT=auto")
	if got := lazy.memory; got.MemoryLimit != boundedLimit || got.JobBudget != boundedLimit-64<<20 {
		t.Fatalf("MEMORY_LIMIT=auto found a limit of %d bytes, a budget of %d; want the cgroup's %d, less 64 MiB", got.MemoryLimit, got.JobBudget, boundedLimit)
	}
	ids := []string{id, e.enqueue(queue.Job{ID: "bounded-records", Domain: "recruit", FileName: files[1].name})}
	for i, f := range files {
		s := e.waitFinishedWithin(ids[i], 8*waitTimeout)
		if s.State != queue.StateSucceeded || s.Worker != "bounded" {
			t.Fatalf("%s: status %+v, want succeeded by the bounded worker", f.name, s)
		}
		checkExactShape(t, e.batch.OutputPath("recruit", ids[i]), f.spec, f.shape)
		t.Logf("%s: %d rows, %.1f MiB, ingested exactly", f.name, f.spec.Rows, mib(f.bytes))
	}
	report(t, "MEMORY_LIMIT=auto, both files", g, w, lazy)
	if st, err := g.Stats(); err != nil || st.OOMKills != 0 {
		t.Fatalf("cgroup stats %+v (%v), want no OOM kill", st, err)
	}
}

// TestProcessBoundedMemoryBig is the target of issue 14, opt-in
// (EMBEDSTREAM_BIG=1; about 5 GB of disk and several minutes): a worker
// limited to 256 MiB ingests, exactly, a DataFrame of at least 2 GB (over
// 1M rows of 384 float32 and strings) and a records pickle of at least 2
// GB. It reports the peak RssAnon, VmHWM and the cgroup's peak.
func TestProcessBoundedMemoryBig(t *testing.T) {
	if os.Getenv("EMBEDSTREAM_BIG") != "1" {
		t.Skip("set EMBEDSTREAM_BIG=1 to ingest two 2 GB files in a 256 MiB worker")
	}
	if err := memcg.Available(); err != nil {
		t.Skipf("needs a memory cgroup: %v", err)
	}
	const limit = 256 << 20
	e := newEnv(t, envOpts{AckWait: 30 * time.Second})
	if d := os.Getenv("EMBEDSTREAM_BIG_DIR"); d != "" {
		e.dataDir = d // reuse files generated there before (same names, same specs)
	}
	var files []boundedFile
	for _, f := range []struct {
		name  string
		shape picklegen.Shape
		rows  int
	}{{"big_frame.pkl", picklegen.Frame, 1_050_000}, {"big_records.pkl", picklegen.Records, 0}} {
		spec := picklegen.Spec{Rows: f.rows, Dim: 384, Seed: 31}
		if f.rows == 0 {
			rows, err := picklegen.RowsFor(2_100_000_000, 384, spec.Seed, f.shape)
			if err != nil {
				t.Fatal(err)
			}
			spec.Rows = rows
		}
		path := filepath.Join(e.dataDir, f.name)
		n := int64(0)
		if fi, err := os.Stat(path); err == nil && os.Getenv("EMBEDSTREAM_BIG_DIR") != "" {
			n = fi.Size()
		} else {
			n = e.writeGenerated(f.name, spec, f.shape)
		}
		if n < 2_000_000_000 {
			t.Fatalf("%s: %d bytes, want at least 2 GB", f.name, n)
		}
		files = append(files, boundedFile{f.name, f.shape, spec, n})
	}
	p, g, w := e.memoryWorker("big", limit, "MEMORY_LIMIT=auto")
	for _, f := range files {
		start := time.Now()
		id := e.enqueue(queue.Job{ID: "big-" + f.name[:len(f.name)-4], Domain: "recruit", FileName: f.name})
		s := e.waitFinishedWithin(id, 60*time.Minute)
		if s.State != queue.StateSucceeded {
			t.Fatalf("%s: status %+v", f.name, s)
		}
		t.Logf("%s: %d rows, %.2f GB, job %.1f s (%s rows/s), ingested in %.1f s", f.name, f.spec.Rows, float64(f.bytes)/1e9,
			s.FinishedAt.Sub(s.StartedAt).Seconds(), strconv.FormatFloat(float64(f.spec.Rows)/s.FinishedAt.Sub(s.StartedAt).Seconds(), 'f', 0, 64), time.Since(start).Seconds())
		checkExactShape(t, e.batch.OutputPath("recruit", id), f.spec, f.shape)
	}
	report(t, fmt.Sprintf("%d MiB worker, two files of %.2f and %.2f GB", limit>>20, float64(files[0].bytes)/1e9, float64(files[1].bytes)/1e9), g, w, p)
	if st, err := g.Stats(); err != nil || st.OOMKills != 0 {
		t.Fatalf("cgroup stats %+v (%v), want no OOM kill", st, err)
	}
}
