package ingest_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// gate holds the batch server's stream of a job at chosen chunks until
// released.
type gate struct {
	mu    sync.Mutex
	holds map[uint64]chan struct{}
}

func newGate(seqs ...uint64) *gate {
	g := &gate{holds: map[uint64]chan struct{}{}}
	for _, s := range seqs {
		g.holds[s] = make(chan struct{})
	}
	return g
}

func (g *gate) onChunk(_ string, seq uint64) {
	g.mu.Lock()
	ch := g.holds[seq]
	g.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

func (g *gate) release(seq uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ch := g.holds[seq]; ch != nil {
		close(ch)
		delete(g.holds, seq)
	}
}

func (g *gate) releaseAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for s, ch := range g.holds {
		close(ch)
		delete(g.holds, s)
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// The status record tells the phases apart and keeps being written while
// nothing changes: streaming or committing (records handed to the stream,
// none acknowledged), committing (every chunk sent, waiting for the batch
// server: the record is still rewritten at every heartbeat), then
// succeeded with every record acknowledged.
func TestStatusPhasesAndHeartbeat(t *testing.T) {
	t.Parallel()
	g := newGate(0, 4) // the first and the last of 5 chunks
	e := newEnv(t, envOpts{OnChunk: g.onChunk})
	t.Cleanup(g.releaseAll)
	e.addFixture("recruit_small_df.pkl") // 50 records
	e.startWorker("w1", func(w *ingest.WorkerConfig, p *ingest.ProcessorConfig) {
		p.ChunkRecords = 10
		w.ProgressHeartbeat = 50 * time.Millisecond
	})
	id := e.enqueue(queue.Job{Domain: "recruit", FileName: "recruit_small_df.pkl"})

	// The chunks fit gRPC's windows, so the worker may be done sending
	// (committing) before the record shows it streaming.
	st := e.waitStatus(id, func(s queue.Status) bool {
		return s.Phase == queue.PhaseStreaming || s.Phase == queue.PhaseCommitting
	})
	if st.State != queue.StateRunning || st.StreamingSince.IsZero() || st.PhaseSince.IsZero() || st.RecordsTotal != 50 || st.RecordsAcked != 0 {
		t.Fatalf("streaming record %+v", st)
	}
	g.release(0)
	st = e.waitStatus(id, func(s queue.Status) bool { return s.Phase == queue.PhaseCommitting })
	if st.RecordsSent != 50 || st.RecordsAcked != 0 || st.State != queue.StateRunning {
		t.Fatalf("committing record: %d sent, %d acked, %s; want 50 sent, none acknowledged yet", st.RecordsSent, st.RecordsAcked, st.State)
	}
	// Nothing changes while the batch server holds the commit, yet the
	// record is rewritten: updated_at moves on twice.
	first := st.UpdatedAt
	seen := map[time.Time]bool{first: true}
	e.waitStatus(id, func(s queue.Status) bool {
		if s.Phase == queue.PhaseCommitting {
			seen[s.UpdatedAt] = true
		}
		return len(seen) >= 3
	})
	g.release(4)
	st = e.waitFinished(id)
	if st.State != queue.StateSucceeded || st.RecordsAcked != 50 || st.Phase != "" || st.StreamingSince.IsZero() {
		t.Fatalf("final record %+v; want succeeded, 50 acknowledged, no phase", st)
	}
}

// A running job canceled by an operator stops: nothing is committed, the
// status says canceled (history: canceled), the message leaves the work
// queue, and there is no dead letter. The worker's heartbeat showed the
// job while it ran, and the worker's record goes when it stops.
func TestCancelRunningJob(t *testing.T) {
	t.Parallel()
	g := newGate(0)
	e := newEnv(t, envOpts{OnChunk: g.onChunk})
	t.Cleanup(g.releaseAll)
	e.addFixture("recruit_small_df.pkl")
	w := e.startWorker("w1", func(w *ingest.WorkerConfig, p *ingest.ProcessorConfig) {
		p.ChunkRecords = 10
		w.Heartbeat = 50 * time.Millisecond
	})
	id := e.enqueue(queue.Job{Domain: "recruit", FileName: "recruit_small_df.pkl"})
	e.waitChunk(id)
	ctx := ctxFor(t)
	e.waitFor("the worker's heartbeat to show the job", func() bool {
		ws, err := e.q.ListWorkers(ctx)
		return err == nil && len(ws) == 1 && ws[0].Name == "w1" && len(ws[0].Jobs) == 1 && ws[0].Jobs[0].JobID == id
	})
	res, err := e.q.CancelJob(ctx, id)
	if err != nil || !res.Canceling {
		t.Fatalf("CancelJob = %+v, %v; want the worker to stop it", res, err)
	}
	st := e.waitStatus(id, func(s queue.Status) bool { return s.State == queue.StateCanceled })
	g.releaseAll()
	if len(st.History) != 1 || st.History[0].Outcome != queue.OutcomeCanceled || st.FinishedAt.IsZero() {
		t.Fatalf("history %+v", st.History)
	}
	if _, ok := e.batch.Committed(id); ok {
		t.Fatal("a canceled job was committed")
	}
	if dls := e.deadLetters(); len(dls) != 0 {
		t.Fatalf("dead letters %+v", dls)
	}
	e.waitFor("the work queue to empty", func() bool { return streamMsgs(t, e, queue.DefaultStream) == 0 })
	w.stop()
	if ws, err := e.q.ListWorkers(ctx); err != nil || len(ws) != 0 {
		t.Fatalf("workers after the stop: %+v, %v", ws, err)
	}
	if v := metricValue(t, w.w.Metrics().Handler(), `embedstream_worker_jobs_total{domain="recruit",outcome="canceled"}`); v != 1 {
		t.Errorf("canceled jobs counted %v, want 1", v)
	}
	if v := metricValue(t, w.w.Metrics().Handler(), `embedstream_worker_enqueue_to_start_seconds_count{domain="recruit"}`); v != 1 {
		t.Errorf("enqueue-to-start observations %v, want 1", v)
	}
}

// A job that fails, is replayed and fails again counts its attempts on:
// 2, each in the history once, and its dead letter says so.
func TestReplayedJobFailsAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.startWorker("w1", nil)
	id := e.enqueue(queue.Job{Domain: "recruit", FileName: "missing.pkl"})
	if st := e.waitFinished(id); st.State != queue.StateFailed || st.Attempts != 1 {
		t.Fatalf("first run: %s after %d attempts", st.State, st.Attempts)
	}
	ctx := ctxFor(t)
	if _, err := e.q.ReplayDeadLetter(ctx, id); err != nil {
		t.Fatal(err)
	}
	st := e.waitStatus(id, func(s queue.Status) bool { return s.State == queue.StateFailed && s.Attempts == 2 })
	var attempts []int
	for _, h := range st.History {
		attempts = append(attempts, h.Attempt)
	}
	if !slices.Equal(attempts, []int{1, 2}) {
		t.Fatalf("history attempts %v, want [1 2]", attempts)
	}
	if dl := e.deadLetters()[id]; dl.Attempts != 2 {
		t.Fatalf("dead letter attempts %d, want 2", dl.Attempts)
	}
}

// waitFor polls cond until it holds, failing the test at the deadline.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	polltest.Until(e.t, waitTimeout, what, cond)
}

// streamMsgs returns how many messages stream holds.
func streamMsgs(t *testing.T, e *env, stream string) uint64 {
	t.Helper()
	return queuetest.StreamMsgs(t, e.nats, stream)
}
