package ingest

import (
	"context"
	"sync"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
)

// liveState is what a running attempt reports besides its counters: its
// phase, and the cancel an operator may ask for.
type liveState struct {
	mu             sync.Mutex
	phase          string
	phaseSince     time.Time
	streamingSince time.Time
	cancel         context.CancelCauseFunc // the attempt's, once it runs
	canceledFlag   bool
	kick           chan struct{} // wakes the progress writer: the phase changed
}

// begin starts the attempt's live state in PhaseLoading at at, with the
// attempt's cancel function; a cancel asked for before is applied now.
func (l *liveState) begin(cancel context.CancelCauseFunc, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase, l.phaseSince = queue.PhaseLoading, at
	l.cancel = cancel
	if l.kick == nil {
		l.kick = make(chan struct{}, 1)
	}
	if l.canceledFlag {
		cancel(errCanceled)
	}
}

// enter moves the attempt to phase now and wakes the progress writer.
func (l *liveState) enter(phase string) {
	l.mu.Lock()
	now := time.Now()
	l.phase, l.phaseSince = phase, now
	if phase == queue.PhaseStreaming {
		l.streamingSince = now
	}
	kick := l.kick
	l.mu.Unlock()
	if kick != nil {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
}

// snapshot returns the phase, since when, and when streaming began.
func (l *liveState) snapshot() (phase string, since, streaming time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phase, l.phaseSince, l.streamingSince
}

// markCanceled records a cancel request and cancels the attempt if it
// runs; it reports whether the request is new.
func (l *liveState) markCanceled() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.canceledFlag {
		return false
	}
	l.canceledFlag = true
	if l.cancel != nil {
		l.cancel(errCanceled)
	}
	return true
}

func (l *liveState) canceled() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.canceledFlag
}

func (l *liveState) kicked() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.kick
}

// requestCancel stops the attempt because an operator canceled the job
// (heard from source: the announcement or the status record): its stream
// is cancelled, nothing is committed, and [jobRun.finish] settles it with
// queue.Delivery.Cancel.
func (j *jobRun) requestCancel(source string) {
	j.d.NoteCancel()
	if j.live.markCanceled() {
		j.log.Info().Str("heard_from", source).Msg("cancel requested: stopping the job")
	}
}

// progressKey is what, when it changes, makes the progress writer write.
type progressKey struct {
	total, records, chunks uint64
	phase                  string
}

// writeProgress writes the attempt's progress to the status record: at
// most every StatusInterval while its counters change, at once when its
// phase changes (unless the last write is more recent than
// StatusInterval: then at the next tick), and at least every
// ProgressHeartbeat while nothing
// changes (a long load or commit), so the record's updated_at shows the
// attempt is alive. Each write also tells whether the record asks for a
// cancel (the delivery writes only while the record shows this attempt
// running).
func (j *jobRun) writeProgress(ctx context.Context) {
	tick := time.NewTicker(j.w.cfg.StatusInterval)
	defer tick.Stop()
	kick := j.live.kicked()
	var last progressKey
	lastWrite := time.Now() // Start wrote the record
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-kick:
			// A new phase is written at once, but no sooner than
			// StatusInterval after the last write: the next tick
			// writes it otherwise. A short job (most small files)
			// thus writes its record only when it starts and ends.
			if time.Since(lastWrite) < j.w.cfg.StatusInterval {
				continue
			}
		}
		p := j.progress()
		key := progressKey{p.RecordsTotal, p.RecordsSent, p.ChunksSent, p.Phase}
		if key == last && time.Since(lastWrite) < j.w.cfg.ProgressHeartbeat {
			continue
		}
		last, lastWrite = key, time.Now()
		j.d.Progress(ctx, p)
		if j.d.CancelRequested() {
			j.requestCancel("status record")
		}
	}
}

// progress returns the attempt's counters and phase as the status record
// shows them.
func (j *jobRun) progress() queue.Progress {
	phase, since, streaming := j.live.snapshot()
	return queue.Progress{
		RecordsTotal:   uint64(j.total.Load()),
		RecordsSent:    j.records.Load(),
		RecordsAcked:   j.acked.Load(),
		ChunksSent:     j.chunks.Load(),
		BytesSent:      j.bytes.Load(),
		Phase:          phase,
		PhaseSince:     since,
		StreamingSince: streaming,
	}
}
