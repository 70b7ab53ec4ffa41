package ingest

import (
	"context"
	"sync"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/telemetry"
)

// runningJobs are the attempts a worker runs now: where a cancel
// announcement finds its job, and what the heartbeat reports.
type runningJobs struct {
	mu   sync.Mutex
	jobs []*jobRun // oldest first
}

func (r *runningJobs) add(j *jobRun) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.jobs = append(r.jobs, j)
}

func (r *runningJobs) remove(j *jobRun) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, x := range r.jobs {
		if x == j {
			r.jobs = append(r.jobs[:i], r.jobs[i+1:]...)
			return
		}
	}
}

// byID returns the running attempts of job id.
func (r *runningJobs) byID(id string) []*jobRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*jobRun
	for _, j := range r.jobs {
		if j.job.ID == id {
			out = append(out, j)
		}
	}
	return out
}

// snapshot describes the running attempts for the worker's heartbeat.
func (r *runningJobs) snapshot() []queue.WorkerJob {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]queue.WorkerJob, 0, len(r.jobs))
	for _, j := range r.jobs {
		p := j.progress()
		out = append(out, queue.WorkerJob{
			JobID: j.job.ID, Domain: j.job.Domain, FileName: j.job.FileName, Attempt: j.attempt,
			StartedAt: j.started, Phase: p.Phase, RecordsTotal: p.RecordsTotal, RecordsSent: p.RecordsSent,
		})
	}
	return out
}

// Cancel watcher restart delays: the first, doubling up to the last.
const (
	cancelRetryMin = time.Second
	cancelRetryMax = 30 * time.Second
)

// watchCancels listens for cancel announcements until ctx ends and stops
// the running attempts of the jobs named. Announcements only hurry the
// cancel along: the status record carries the request, which each
// attempt reads as it writes progress. A failed subscription is retried
// with backoff.
func (w *Worker) watchCancels(ctx context.Context) {
	delay := cancelRetryMin
	for {
		err := w.q.WatchCancels(telemetry.WithLogger(ctx, w.log), func(id string) {
			for _, j := range w.running.byID(id) {
				j.requestCancel("announcement")
			}
		})
		if ctx.Err() != nil {
			return
		}
		w.log.Warn().Err(err).Dur("retry_in", delay).Msg("listening for cancel announcements failed (cancels still arrive through the status records)")
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, cancelRetryMax)
	}
}
