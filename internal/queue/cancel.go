package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// CancelSubject is the core NATS subject on which [Queue.CancelJob]
// announces a cancel request (the body is the job id), so the worker
// running the job stops it at once; the request itself is durable in the
// status record's CancelRequestedAt, which workers also read.
const CancelSubject = "ingest.control.cancel"

// cancelReason is the TermWithReason of a canceled delivery.
const cancelReason = "canceled"

// CancelResult says how far [Queue.CancelJob] got.
type CancelResult struct {
	// State is the job's state after the call: StateCanceled when the job
	// was waiting (its message is removed from the work queue), or the
	// state it has while the worker running it stops it (StateRunning:
	// Canceling is then true).
	State string
	// Canceling is true when the job is running: the worker holding it
	// cancels its stream (nothing is committed), terminates its message and
	// writes state canceled.
	Canceling bool
	// Status is the job's status record as the call left it.
	Status Status
}

// CancelJob cancels job id. It first records the request in the status
// record (CancelRequestedAt, compare-and-set), so a worker that takes the
// job afterwards stops it before it streams. Then:
//
//   - a job waiting in the queue (queued or retrying) has its message
//     removed from the work queue and its state set to canceled;
//   - a running job is stopped by its worker, told on [CancelSubject] (and
//     by the record, which it reads as it writes progress): it cancels the
//     stream, so nothing is committed, terminates the message and writes
//     state canceled, with no dead letter.
//
// Canceling a canceled job is a no-op that succeeds. Errors:
// [ErrNotFound] (no such job), [ErrFinished] (it succeeded or failed:
// replay or purge its dead letter instead), [ErrUnavailable].
func (q *Queue) CancelJob(ctx context.Context, id string) (CancelResult, error) {
	now := time.Now().UTC()
	st, err := q.UpdateStatus(ctx, id, func(s *Status) error {
		switch {
		case s.State == "":
			return ErrNotFound // created by this update: the record expired meanwhile
		case s.State == StateCanceled:
			return ErrSkipUpdate
		case Finished(s.State):
			return fmt.Errorf("%w: it %s", ErrFinished, s.State)
		}
		if s.CancelRequestedAt.IsZero() {
			s.CancelRequestedAt = now
		}
		return nil
	})
	if err != nil {
		return CancelResult{Status: st}, err
	}
	if st.State == StateCanceled {
		return CancelResult{State: StateCanceled, Status: st}, nil
	}
	if st.State == StateRunning {
		return q.announceCancel(id, st)
	}
	// Waiting (queued or retrying): remove its message. A worker may have
	// fetched it meanwhile; it then reads the request at its start.
	removed, err := q.removeJobMsg(ctx, id, st)
	if err != nil {
		return CancelResult{Status: st}, err
	}
	if !removed {
		// Not in the stream (a worker holds it, or it is being handed
		// off): the worker stops it.
		return q.announceCancel(id, st)
	}
	st, err = q.UpdateStatus(ctx, id, func(s *Status) error {
		if s.State != StateQueued && s.State != StateRetrying {
			return ErrSkipUpdate // a worker moved on: it reads the request
		}
		s.State = StateCanceled
		s.Phase, s.PhaseSince = "", time.Time{}
		s.FinishedAt = time.Now().UTC()
		return nil
	})
	if err != nil {
		return CancelResult{Status: st}, err
	}
	if st.State != StateCanceled {
		return q.announceCancel(id, st)
	}
	return CancelResult{State: StateCanceled, Status: st}, nil
}

// announceCancel tells the workers on [CancelSubject] that job id is to
// be canceled. The request is already in the record, so a lost notice
// only delays the cancel until the worker's next progress write.
func (q *Queue) announceCancel(id string, st Status) (CancelResult, error) {
	if err := q.nc.Publish(CancelSubject, []byte(id)); err != nil {
		return CancelResult{Status: st}, classify("queue: announce cancel of job "+id, err)
	}
	return CancelResult{State: st.State, Canceling: true, Status: st}, nil
}

// removeJobMsg deletes job id's message from the work queue and reports
// whether it was there. The record's StreamSeq says where it is; when that
// message is not the job's (a job published straight to NATS, a handoff's
// copy), the job's subject is searched.
func (q *Queue) removeJobMsg(ctx context.Context, id string, st Status) (bool, error) {
	if st.StreamSeq > 0 {
		raw, err := q.jobs.GetMsg(ctx, st.StreamSeq)
		switch {
		case err == nil && msgJobID(raw) == id:
			return q.deleteIfPresent(ctx, st.StreamSeq)
		case err != nil && !errors.Is(err, jetstream.ErrMsgNotFound):
			return false, classify("queue: look up job "+id, err)
		}
	}
	filter := SubjectWildcard
	if ValidateDomain(st.Domain) == nil {
		filter = SubjectPrefix + st.Domain
	}
	seq, err := q.findJobMsg(ctx, id, filter)
	if err != nil || seq == 0 {
		return false, err
	}
	return q.deleteIfPresent(ctx, seq)
}

func (q *Queue) deleteIfPresent(ctx context.Context, seq uint64) (bool, error) {
	err := q.jobs.DeleteMsg(ctx, seq)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return false, nil
	}
	return false, classify(fmt.Sprintf("queue: delete job at sequence %d", seq), err)
}

// msgJobID is the job id a stored job message stands for.
func msgJobID(raw *jetstream.RawStreamMsg) string {
	return JobIDFromMsg(raw.Header, raw.Data, raw.Sequence, raw.Time)
}

// findJobMsg returns the sequence of job id's message on filter, 0 when
// there is none, reading the messages there oldest first (a search that
// costs the depth of the domain's queue; the record's StreamSeq spares it
// in the usual case).
func (q *Queue) findJobMsg(ctx context.Context, id, filter string) (uint64, error) {
	cons, err := q.js.OrderedConsumer(ctx, q.cfg.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return 0, classify("queue: search job "+id, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, classify("queue: search job "+id, err)
	}
	remaining := info.NumPending
	for remaining > 0 {
		batch, err := cons.Fetch(int(min(remaining, scanBatch)), jetstream.FetchMaxWait(scanWait))
		if err != nil {
			return 0, classify("queue: search job "+id, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return 0, fmt.Errorf("queue: search job %s: %w", id, err)
			}
			remaining = meta.NumPending
			if JobIDFromMsg(m.Headers(), m.Data(), meta.Sequence.Stream, meta.Timestamp) == id {
				return meta.Sequence.Stream, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return 0, classify("queue: search job "+id, err)
		}
		if n == 0 {
			return 0, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("queue: search job %s: %w", id, context.Cause(ctx))
		}
	}
	return 0, nil
}

// WatchCancels calls fn with the id of every job whose cancel is
// announced on [CancelSubject], until ctx is done. Announcements are a
// prompt, not the record: a worker also reads CancelRequestedAt from the
// status record ([Delivery.CancelRequested]). Errors: [ErrUnavailable].
func (q *Queue) WatchCancels(ctx context.Context, fn func(jobID string)) error {
	sub, err := q.nc.Subscribe(CancelSubject, func(m *nats.Msg) {
		if id := strings.TrimSpace(string(m.Data)); id != "" {
			fn(id)
		}
	})
	if err != nil {
		return classify("queue: watch cancels", err)
	}
	<-ctx.Done()
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
		return fmt.Errorf("queue: stop watching cancels: %w", err)
	}
	return nil
}

// CancelRequested reports whether a status write of this delivery
// ([Delivery.Start], [Delivery.Progress]) saw a cancel request in the job's
// record, or [Delivery.NoteCancel] was called.
func (d *Delivery) CancelRequested() bool { return d.cancelAsked.Load() }

// NoteCancel records that the job is to be canceled (the worker heard it
// announced on [CancelSubject]).
func (d *Delivery) NoteCancel() { d.cancelAsked.Store(true) }

func (d *Delivery) noteCancel(s *Status) {
	if !s.CancelRequestedAt.IsZero() {
		d.cancelAsked.Store(true)
	}
}

// Cancel records the attempt as canceled by an operator (state canceled,
// outcome canceled, progress p), then terminates the message ("canceled"):
// nothing is dead-lettered. It does not overwrite a success or a later
// attempt's record. Errors: [ErrSettled], or the Term's.
func (d *Delivery) Cancel(ctx context.Context, p Progress) error {
	if err := d.settle(); err != nil {
		return err
	}
	d.record(ctx, p, OutcomeCanceled, StateCanceled, nil)
	if err := d.msg.TermWithReason(cancelReason); err != nil {
		return fmt.Errorf("queue: term canceled job %s: %w", d.job.ID, err)
	}
	return nil
}

// appendAttempt appends a to history unless an entry for its attempt is
// there already (a status write retried after it landed): the history
// shows each attempt once.
func appendAttempt(history []Attempt, a Attempt) []Attempt {
	for _, h := range history {
		if h.Attempt == a.Attempt && h.Worker == a.Worker && h.StartedAt.Equal(a.StartedAt) {
			return history
		}
	}
	return append(history, a)
}
