package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/telemetry"
)

// Queue is what the worker needs of the job queue; implemented by
// *queue.Queue.
type Queue interface {
	// Jobs binds the durable pull consumer the workers share, for the
	// worker named worker; its deliveries carry the job's status and
	// settlement.
	Jobs(ctx context.Context, worker string) (*queue.Consumer, error)
	// WatchMaxDeliveries calls fn with the stream sequence and deliveries
	// of every job whose deliveries ran out, until ctx ends.
	// fn returning an error has the advisory redelivered.
	WatchMaxDeliveries(ctx context.Context, fn func(ctx context.Context, streamSeq uint64, deliveries int) error) error
	// DeadLetterBySeq moves the job at streamSeq to the dead letters and
	// removes it from the work queue.
	DeadLetterBySeq(ctx context.Context, streamSeq uint64, deliveries int, jerr queue.JobError, worker string) error
	// WatchCancels calls fn with the id of every job whose cancel is
	// announced, until ctx ends.
	WatchCancels(ctx context.Context, fn func(jobID string)) error
	// PutWorker writes the worker's heartbeat record; DeleteWorker removes
	// it when the worker stops.
	PutWorker(ctx context.Context, w queue.WorkerInfo) error
	DeleteWorker(ctx context.Context, name string) error
}

// Conn is the NATS connection, for readiness; implemented by *nats.Conn.
type Conn interface {
	IsConnected() bool
}

// Defaults of [WorkerConfig]: a zero field takes these (the lease's
// defaults are the queue's: queue.DefaultAckWait and
// queue.DefaultMaxDeliver). ShutdownTimeout is the exception: its zero
// cancels running jobs at once, and DefaultShutdownTimeout is what the
// worker's settings (SHUTDOWN_TIMEOUT) default to.
const (
	DefaultConcurrency     = 2                      // jobs at once per worker (WORKER_CONCURRENCY)
	DefaultBackoffMin      = 2 * time.Second        // first retry delay (RETRY_BACKOFF_MIN)
	DefaultBackoffMax      = 2 * time.Minute        // largest retry delay (RETRY_BACKOFF_MAX)
	DefaultRetryBudget     = 15 * time.Minute       // how long a run of transient failures is retried (RETRY_BUDGET)
	DefaultShutdownTimeout = 30 * time.Second       // how long running jobs may finish after stop (SHUTDOWN_TIMEOUT)
	DefaultFetchWait       = 2 * time.Second        // how long one pull request waits for a job
	DefaultStatusInterval  = 250 * time.Millisecond // least time between progress writes
	DefaultFinishTimeout   = 10 * time.Second       // bound of the final ack and status writes
	// DefaultProgressHeartbeat is the longest a running job's status
	// record goes unwritten while nothing changes (a long load or commit).
	DefaultProgressHeartbeat = 5 * time.Second
)

// WorkerConfig configures a [Worker]. Zero fields take the defaults noted.
type WorkerConfig struct {
	Name            string        // recorded in status and dead letters
	Concurrency     int           // jobs at once ([DefaultConcurrency])
	AckWait         time.Duration // the lease's length; Run uses the bound consumer's instead (queue.DefaultAckWait)
	MaxDeliver      int           // deliveries per message; Run uses the bound consumer's instead (queue.DefaultMaxDeliver; -1: unlimited)
	BackoffMin      time.Duration // first retry delay ([DefaultBackoffMin])
	BackoffMax      time.Duration // largest retry delay ([DefaultBackoffMax], and at least BackoffMin)
	ShutdownTimeout time.Duration // how long running jobs may finish after stop (0: cancel at once)
	FetchWait       time.Duration // how long one pull request waits for a job ([DefaultFetchWait])
	StatusInterval  time.Duration // least time between progress writes ([DefaultStatusInterval])
	FinishTimeout   time.Duration // bound of the final ack and status writes ([DefaultFinishTimeout])
	// ProgressHeartbeat is the longest a running job's record goes
	// unwritten ([DefaultProgressHeartbeat]).
	ProgressHeartbeat time.Duration
	// Heartbeat is how often the worker writes its record in
	// queue.WorkersBucket (queue.WorkerHeartbeat).
	Heartbeat time.Duration

	// RetryBudget is how long a job's transient failures are retried,
	// counted from the first one of its current run (queue.Status's
	// RetryingSince): a failure once it is spent dead-letters the job
	// (reason retries_exhausted). MaxDeliver does not end retries: on the
	// last allowed delivery the job is handed off while budget remains.
	// ([DefaultRetryBudget])
	RetryBudget time.Duration
}

func (c *WorkerConfig) setDefaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.AckWait <= 0 {
		c.AckWait = queue.DefaultAckWait
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = queue.DefaultMaxDeliver
	}
	if c.MaxDeliver < 0 {
		c.MaxDeliver = -1 // unlimited, as JetStream has it
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(c.BackoffMin, DefaultBackoffMax)
	}
	if c.RetryBudget <= 0 {
		c.RetryBudget = DefaultRetryBudget
	}
	if c.FetchWait <= 0 {
		c.FetchWait = DefaultFetchWait
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.FinishTimeout <= 0 {
		c.FinishTimeout = DefaultFinishTimeout
	}
	if c.ProgressHeartbeat <= 0 {
		c.ProgressHeartbeat = DefaultProgressHeartbeat
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = queue.WorkerHeartbeat
	}
}

// Worker consumes jobs from the queue and runs each with a [Processor],
// mapping every outcome onto a transition of its queue.Delivery: Succeed
// (DoubleAck) after the batch server's answer, Reschedule (NakWithDelay,
// or a handoff on the last delivery) on a transient failure while its
// retry budget lasts, DeadLetter then Fail (TermWithReason) on a permanent
// one or once the budget is spent, HandBack (Nak at once, or a handoff on
// the last delivery) when cut off by shutdown. See the package
// documentation.
type Worker struct {
	cfg     WorkerConfig
	q       Queue
	conn    Conn
	proc    *Processor
	metrics *Metrics
	log     zerolog.Logger
	bound   atomic.Bool // bound to the job consumer, and it exists
	// advisoryDown is set while the MAX_DELIVERIES watcher waits to be
	// restarted after a failure.
	advisoryDown atomic.Bool
	running      runningJobs   // the attempts running now
	outcomes     outcomeCounts // finished attempts by outcome, for the heartbeat
}

// NewWorker returns a Worker. metrics may be nil. log should already carry
// the worker's name (field "worker"); the Worker does not add it.
func NewWorker(cfg WorkerConfig, q Queue, conn Conn, proc *Processor, metrics *Metrics, log zerolog.Logger) *Worker {
	cfg.setDefaults()
	if metrics == nil {
		metrics = NewMetrics()
	}
	return &Worker{cfg: cfg, q: q, conn: conn, proc: proc, metrics: metrics, log: log}
}

// Errors of [Worker.Readiness].
var (
	ErrNotConnected  = errors.New("nats disconnected")
	ErrNotBound      = errors.New("job consumer not bound")
	ErrAdvisoryWatch = errors.New("MAX_DELIVERIES advisory watcher down")
)

// Readiness returns nil when the worker is connected to NATS, bound to a
// job consumer that exists and watching MAX_DELIVERIES advisories; else
// an error saying which is not the case.
func (w *Worker) Readiness() error {
	switch {
	case !w.conn.IsConnected():
		return ErrNotConnected
	case !w.bound.Load():
		return ErrNotBound
	case w.advisoryDown.Load():
		return ErrAdvisoryWatch
	}
	return nil
}

// Ready reports whether [Worker.Readiness] is nil.
func (w *Worker) Ready() bool { return w.Readiness() == nil }

// Metrics returns the worker's metrics.
func (w *Worker) Metrics() *Metrics { return w.metrics }

// Run consumes jobs until ctx ends, then stops fetching, lets running jobs
// finish for up to ShutdownTimeout, cancels the rest (they are Nak'd for
// another worker at once) and returns nil. It returns an error only if the
// consumer cannot be bound.
func (w *Worker) Run(ctx context.Context) error {
	cons, err := w.q.Jobs(ctx, w.cfg.Name)
	if err != nil {
		return fmt.Errorf("ingest: bind consumer: %w", err)
	}
	// The consumer's settings rule leases and deliveries, whatever this
	// worker was configured with.
	w.cfg.AckWait, w.cfg.MaxDeliver = cons.AckWait(), cons.MaxDeliver()
	w.bound.Store(true)
	defer w.bound.Store(false)
	w.log.Info().Int("concurrency", w.cfg.Concurrency).Dur("ack_wait", w.cfg.AckWait).
		Int("max_deliver", w.cfg.MaxDeliver).Dur("retry_budget", w.cfg.RetryBudget).Msg("worker started")

	// Jobs run on a context detached from ctx: a signal stops fetching, not
	// the jobs. It is cancelled with errShutdown after the grace period.
	workCtx, stopWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopWork(nil)

	// The heartbeat outlives ctx until the running jobs are done: a
	// draining worker still reports them.
	hbCtx, stopHB := context.WithCancel(context.WithoutCancel(ctx))
	var hb sync.WaitGroup
	hb.Go(func() { w.heartbeat(hbCtx, ctx.Done(), time.Now().UTC()) })
	defer func() {
		stopHB()
		hb.Wait()
		w.leave()
	}()

	var wg sync.WaitGroup
	gate := &fetchGate{zero: make(chan struct{})}
	wg.Go(func() { w.watchAdvisories(ctx) })
	// Cancels are heard while jobs run, including while they drain.
	cancelCtx, stopCancels := context.WithCancel(context.WithoutCancel(ctx))
	var cw sync.WaitGroup
	cw.Go(func() { w.watchCancels(cancelCtx) })
	defer func() {
		stopCancels()
		cw.Wait()
	}()
	for range w.cfg.Concurrency {
		wg.Go(func() { w.slot(ctx, workCtx, cons, gate) })
	}

	<-ctx.Done()
	w.log.Info().Dur("shutdown_timeout", w.cfg.ShutdownTimeout).Msg("worker stopping: no new jobs, waiting for running ones")
	fetchesDone := gate.close()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	grace := time.NewTimer(w.cfg.ShutdownTimeout)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		// Hand jobs back only once no pull request of ours is pending
		// (they expire within FetchWait), or the redelivery could land on
		// one of them and be wasted.
		<-fetchesDone
		w.log.Warn().Msg("shutdown timeout: cancelling running jobs for redelivery")
		stopWork(errShutdown)
		<-done
	}
	w.log.Info().Msg("worker stopped")
	return nil
}

// slot runs one job at a time: it pulls one message only when it is free,
// so the worker never holds more jobs than it can run.
func (w *Worker) slot(ctx, workCtx context.Context, cons *queue.Consumer, gate *fetchGate) {
	for ctx.Err() == nil {
		if !gate.enter() {
			return
		}
		d, err := cons.Next(w.cfg.FetchWait)
		gate.leave()
		if err != nil {
			switch {
			case errors.Is(err, queue.ErrNoJob):
				w.bound.Store(true) // the consumer answered
				continue
			case errors.Is(err, queue.ErrBadDelivery): // Next terminated it
				w.bound.Store(true)
				w.log.Error().Err(err).Msg("message without JetStream metadata; terminating it")
				continue
			case errors.Is(err, queue.ErrNoConsumer):
				// Not ready until the consumer is back (pulls by name
				// find it again once it is recreated).
				if w.bound.Swap(false) {
					w.log.Error().Err(err).Msg("the job consumer is gone: not ready until it is back")
				}
			default:
				w.log.Warn().Err(err).Msg("fetching a job failed")
			}
			pause := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
			case <-pause.C:
			}
			pause.Stop()
			continue
		}
		w.bound.Store(true)
		if ctx.Err() != nil {
			// Arrived while stopping: hand it back at once.
			w.handBackUnstarted(d)
			return
		}
		w.handle(workCtx, d)
	}
}

// handBackUnstarted hands back a job fetched while the worker stops,
// before it ran: see [queue.Delivery.Release].
func (w *Worker) handBackUnstarted(d *queue.Delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.FinishTimeout)
	defer cancel()
	job, _ := d.Job()
	log := w.log.With().Str("job_id", job.ID).Int("attempt", d.Attempt()).Uint64("stream_seq", d.StreamSeq()).Logger()
	h, err := d.Release(ctx)
	logHandoff(log, h, err, handedOffShutdown)
}

// Advisory watcher restart delays: the first, doubling up to the last.
const (
	advisoryRetryMin = time.Second
	advisoryRetryMax = 30 * time.Second
)

// watchAdvisories runs the MAX_DELIVERIES watcher until ctx ends,
// restarting it with backoff whenever it fails (NATS unreachable at start,
// its consumer missing): a worker that stopped watching would never
// dead-letter abandoned jobs. While it waits to restart, the worker is not
// ready.
func (w *Worker) watchAdvisories(ctx context.Context) {
	delay := advisoryRetryMin
	for {
		started := time.Now()
		err := w.q.WatchMaxDeliveries(telemetry.WithLogger(ctx, w.log), w.onMaxDeliveries)
		if ctx.Err() != nil {
			w.advisoryDown.Store(false)
			return
		}
		if err == nil {
			err = errors.New("watcher returned early")
		}
		if time.Since(started) > advisoryRetryMax {
			delay = advisoryRetryMin // it had been running: a new failure
		}
		w.advisoryDown.Store(true)
		w.log.Error().Err(err).Dur("retry_in", delay).Msg("watching MAX_DELIVERIES advisories failed; not ready until it is back")
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			w.advisoryDown.Store(false)
			return
		case <-t.C:
		}
		delay = min(2*delay, advisoryRetryMax)
		w.advisoryDown.Store(false)
	}
}

// fetchGate counts the pull requests in flight, so that shutdown can wait
// until none is left before it hands running jobs back.
type fetchGate struct {
	mu     sync.Mutex
	n      int
	closed bool
	zero   chan struct{} // closed once closed and n == 0
}

// enter reports whether a fetch may start, and counts it.
func (g *fetchGate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.n++
	return true
}

func (g *fetchGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.closed && g.n == 0 {
		close(g.zero)
	}
}

// close refuses new fetches and returns a channel closed when the last
// one in flight has returned.
func (g *fetchGate) close() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.closed = true
		if g.n == 0 {
			close(g.zero)
		}
	}
	return g.zero
}

// onMaxDeliveries dead-letters a job whose deliveries ran out with no worker
// left to report it (its workers crashed or lost their lease each time).
func (w *Worker) onMaxDeliveries(ctx context.Context, streamSeq uint64, deliveries int) error {
	jerr := queue.JobError{
		Class:     ClassMaxDeliveries,
		Message:   fmt.Sprintf("no delivery of %d finished (workers crashed or lost their lease)", w.cfg.MaxDeliver),
		Permanent: true,
	}
	if err := w.q.DeadLetterBySeq(ctx, streamSeq, deliveries, jerr, w.cfg.Name); err != nil {
		w.log.Error().Err(err).Uint64("stream_seq", streamSeq).Msg("dead-lettering a job whose deliveries ran out failed; will retry")
		return fmt.Errorf("ingest: dead-letter job at sequence %d: %w", streamSeq, err)
	}
	w.metrics.deadLettered.WithLabelValues(queue.ReasonMaxDeliveries).Inc()
	w.log.Warn().Uint64("stream_seq", streamSeq).Msg("job deliveries ran out: moved to dead letters")
	return nil
}

// backoff returns the delay before delivery attempt+1: BackoffMin doubling
// per attempt up to BackoffMax, with ±20% jitter so retries spread out.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.cfg.BackoffMin
	for i := 1; i < attempt && d < w.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, w.cfg.BackoffMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
