package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/queue"
)

// Queue is what the worker needs of the job queue; implemented by
// *queue.Queue.
type Queue interface {
	// Consumer binds the durable pull consumer the workers share.
	Consumer(ctx context.Context) (jetstream.Consumer, error)
	// GetStatus returns the job's status record (queue.ErrNotFound if
	// none).
	GetStatus(ctx context.Context, id string) (queue.Status, error)
	// UpdateStatus applies fn to the job's status record with
	// compare-and-set, creating the record if there is none; fn returning
	// queue.ErrSkipUpdate leaves it unchanged.
	UpdateStatus(ctx context.Context, id string, fn func(*queue.Status) error) (queue.Status, error)
	// PublishDeadLetter publishes dl on the dead-letter stream and returns
	// once JetStream has stored it.
	PublishDeadLetter(ctx context.Context, dl queue.DeadLetter) error
	// WatchMaxDeliveries calls fn with the stream sequence of every job
	// whose deliveries ran out, until ctx ends.
	// fn returning an error has the advisory redelivered.
	WatchMaxDeliveries(ctx context.Context, fn func(ctx context.Context, streamSeq uint64) error) error
	// DeadLetterBySeq moves the job at streamSeq to the dead letters and
	// removes it from the work queue.
	DeadLetterBySeq(ctx context.Context, streamSeq uint64, jerr queue.JobError, worker string) error
}

// Conn is the NATS connection, for confirmed lease extensions and
// readiness; implemented by *nats.Conn.
type Conn interface {
	RequestWithContext(ctx context.Context, subj string, data []byte) (*nats.Msg, error)
	IsConnected() bool
}

// WorkerConfig configures a [Worker]. Zero durations take the defaults
// noted.
type WorkerConfig struct {
	Name            string        // recorded in status and dead letters
	Concurrency     int           // jobs at once (default 2)
	AckWait         time.Duration // the consumer's AckWait, if its info is unavailable (default 30s)
	MaxDeliver      int           // the consumer's MaxDeliver, if its info is unavailable (default 5)
	BackoffMin      time.Duration // first retry delay (default 2s)
	BackoffMax      time.Duration // largest retry delay (default 2m)
	ShutdownTimeout time.Duration // how long running jobs may finish after stop (0: cancel at once)
	FetchWait       time.Duration // how long one pull request waits for a job (default 2s)
	StatusInterval  time.Duration // least time between progress writes (default 250ms)
	FinishTimeout   time.Duration // bound of the final ack and status writes (default 10s)
}

func (c *WorkerConfig) setDefaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 2
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 5
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 2 * time.Second
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(c.BackoffMin, 2*time.Minute)
	}
	if c.FetchWait <= 0 {
		c.FetchWait = 2 * time.Second
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = 250 * time.Millisecond
	}
	if c.FinishTimeout <= 0 {
		c.FinishTimeout = 10 * time.Second
	}
}

// Worker consumes jobs from the queue and runs each with a [Processor],
// mapping every outcome onto JetStream explicitly: DoubleAck after the batch
// server's answer, NakWithDelay on a transient failure, dead letter then
// TermWithReason on a permanent one or on the last delivery, Nak at once
// when cut off by shutdown. See the package documentation.
type Worker struct {
	cfg     WorkerConfig
	q       Queue
	conn    Conn
	proc    *Processor
	metrics *Metrics
	log     zerolog.Logger
	bound   atomic.Bool
}

// NewWorker returns a Worker. metrics may be nil.
func NewWorker(cfg WorkerConfig, q Queue, conn Conn, proc *Processor, metrics *Metrics, log zerolog.Logger) *Worker {
	cfg.setDefaults()
	if metrics == nil {
		metrics = NewMetrics()
	}
	return &Worker{cfg: cfg, q: q, conn: conn, proc: proc, metrics: metrics, log: log.With().Str("worker", cfg.Name).Logger()}
}

// Ready reports whether the worker is connected to NATS and bound to its
// consumer.
func (w *Worker) Ready() bool { return w.bound.Load() && w.conn.IsConnected() }

// Run consumes jobs until ctx ends, then stops fetching, lets running jobs
// finish for up to ShutdownTimeout, cancels the rest (they are Nak'd for
// another worker at once) and returns nil. It returns an error only if the
// consumer cannot be bound.
func (w *Worker) Run(ctx context.Context) error {
	cons, err := w.q.Consumer(ctx)
	if err != nil {
		return fmt.Errorf("ingest: bind consumer: %w", err)
	}
	if info := cons.CachedInfo(); info != nil {
		if info.Config.AckWait > 0 {
			w.cfg.AckWait = info.Config.AckWait
		}
		if info.Config.MaxDeliver > 0 {
			w.cfg.MaxDeliver = info.Config.MaxDeliver
		}
	}
	w.bound.Store(true)
	defer w.bound.Store(false)
	w.log.Info().Int("concurrency", w.cfg.Concurrency).Dur("ack_wait", w.cfg.AckWait).
		Int("max_deliver", w.cfg.MaxDeliver).Msg("worker started")

	// Jobs run on a context detached from ctx: a signal stops fetching, not
	// the jobs. It is cancelled with errShutdown after the grace period.
	workCtx, stopWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopWork(nil)

	var wg sync.WaitGroup
	gate := &fetchGate{zero: make(chan struct{})}
	wg.Go(func() {
		if err := w.q.WatchMaxDeliveries(ctx, w.onMaxDeliveries); err != nil && ctx.Err() == nil {
			w.log.Error().Err(err).Msg("watching MAX_DELIVERIES advisories failed")
		}
	})
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
func (w *Worker) slot(ctx, workCtx context.Context, cons jetstream.Consumer, gate *fetchGate) {
	for ctx.Err() == nil {
		if !gate.enter() {
			return
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(w.cfg.FetchWait))
		gate.leave()
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) {
				continue
			}
			w.log.Warn().Err(err).Msg("fetching a job failed")
			pause := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
			case <-pause.C:
			}
			pause.Stop()
			continue
		}
		if ctx.Err() != nil {
			// Arrived while stopping: hand it back at once.
			if err := msg.Nak(); err != nil {
				w.log.Warn().Err(err).Msg("nak of a job fetched during shutdown failed; it returns after AckWait")
			}
			return
		}
		w.handle(workCtx, msg)
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
func (w *Worker) onMaxDeliveries(ctx context.Context, streamSeq uint64) error {
	jerr := queue.JobError{
		Class:     ClassMaxDeliveries,
		Message:   fmt.Sprintf("no delivery of %d finished (workers crashed or lost their lease)", w.cfg.MaxDeliver),
		Permanent: true,
	}
	if err := w.q.DeadLetterBySeq(ctx, streamSeq, jerr, w.cfg.Name); err != nil {
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
