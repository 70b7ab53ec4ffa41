package ingest

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/embedstream/embedstream/internal/buildinfo"
	"github.com/embedstream/embedstream/internal/queue"
)

// outcomeCounts counts the attempts a worker finished, by outcome, for
// its heartbeat.
type outcomeCounts struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (c *outcomeCounts) add(outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]uint64{}
	}
	c.n[outcome]++
}

func (c *outcomeCounts) snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// heartbeat writes the worker's record in queue.WorkersBucket every
// Heartbeat until ctx ends: who it is, since when, and what it runs.
// Once stopping is done it says so (the worker drains: no new job). A
// failed write is logged and retried at the next beat; the bucket's TTL
// drops the record of a worker that stopped writing it.
func (w *Worker) heartbeat(ctx context.Context, stopping <-chan struct{}, started time.Time) {
	host, _ := os.Hostname() // empty when unknown
	tick := time.NewTicker(w.cfg.Heartbeat)
	defer tick.Stop()
	failed := false
	for {
		stop := false
		select {
		case <-stopping:
			stop = true
		default:
		}
		info := queue.WorkerInfo{
			Name: w.cfg.Name, Host: host, PID: os.Getpid(), Version: buildinfo.Short(),
			Concurrency: w.cfg.Concurrency, StartedAt: started, Stopping: stop,
			Jobs: w.running.snapshot(), Finished: w.outcomes.snapshot(),
		}
		wctx, cancel := context.WithTimeout(ctx, w.cfg.Heartbeat)
		err := w.q.PutWorker(wctx, info)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !failed:
			w.log.Warn().Err(err).Msg("worker heartbeat failed; retrying at the next beat")
			failed = true
		case err == nil:
			failed = false
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-stopping:
			stopping = nil // beat once more now, saying so; then on the tick
		}
	}
}

// leave removes the worker's heartbeat record once it stopped.
func (w *Worker) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.FinishTimeout)
	defer cancel()
	if err := w.q.DeleteWorker(ctx, w.cfg.Name); err != nil {
		w.log.Warn().Err(err).Msg("removing the worker's heartbeat failed; it expires on its own")
	}
}
