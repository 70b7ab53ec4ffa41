package ingest_test

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/picklegen"
	"github.com/embedstream/embedstream/internal/queue"
)

// TestProcessFileTruncatedMidJob: a worker process maps the job's file;
// another process truncates it while the job streams (from the batch
// server's staging hook, once the first chunk is staged). Reading the
// mapping then faults (SIGBUS): the attempt fails with a transient io
// error saying the file changed while it was read, the worker lives on,
// and once the file is whole again the retry commits exactly the
// expected rows.
func TestProcessFileTruncatedMidJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{AckWait: 10 * time.Second, ChunkDelay: 10 * time.Millisecond})
	// 50 MB: more than gRPC's flow-control windows hold, so the worker
	// still has rows to read when the batch server stages its first chunks
	spec := picklegen.Spec{Rows: 25000, Dim: 384, Seed: 13}
	path := e.addFrame("cut.pkl", spec)
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const id = "truncated"
	var once sync.Once
	hook := func(got string, _, records uint64) {
		if got != id || records == 0 {
			return
		}
		once.Do(func() {
			if err := os.Truncate(path, 0); err != nil {
				t.Error(err)
			}
		})
	}
	e.staged.Store(&hook)

	// The retry waits 3 s: time to put the file back once the first
	// attempt has failed. A memory limit, so that files are mapped.
	w := e.startProcess("w", "RETRY_BACKOFF_MIN=3s", "RETRY_BACKOFF_MAX=3s", "MEMORY_LIMIT=1GiB")
	e.enqueue(queue.Job{ID: id, Domain: "recruit", FileName: "cut.pkl", Options: queue.JobOptions{ChunkRecords: 100}})
	s := e.waitStatus(id, func(s queue.Status) bool { return len(s.History) > 0 || finished(s) })
	if len(s.History) == 0 {
		t.Fatalf("status %+v, want a failed first attempt", s)
	}
	if err := os.WriteFile(path, whole, 0o644); err != nil {
		t.Fatal(err)
	}
	first := s.History[0]
	if first.Outcome != "retrying" || first.Error == nil || first.Error.Class != ingest.ClassIO || first.Error.Permanent ||
		!strings.Contains(first.Error.Message, "changed while it was read") {
		t.Fatalf("first attempt %+v (error %+v), want a transient io error: the file changed while it was read", first, first.Error)
	}
	s = e.waitFinished(id)
	if s.State != queue.StateSucceeded || s.Worker != "w" || s.Attempts != 2 {
		t.Fatalf("status %+v, want succeeded by w on attempt 2", s)
	}
	select {
	case <-w.exited:
		t.Fatalf("the worker exited (%v)", w.waitErr)
	default:
	}
	checkExact(t, e.batch.OutputPath("recruit", id), spec)
}
