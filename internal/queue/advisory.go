package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/embedstream/embedstream/internal/telemetry"
)

// advisoryRetryDelay is how long a MAX_DELIVERIES advisory whose handler
// failed waits before it is handled again.
const advisoryRetryDelay = 5 * time.Second

// maxDeliveriesAdvisory is the part of JetStream's
// io.nats.jetstream.advisory.v1.max_deliver event we read.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// WatchMaxDeliveries handles the job consumer's MAX_DELIVERIES advisories
// until ctx is done, then returns nil. JetStream leaves a job whose
// deliveries ran out in the work queue and only publishes this advisory;
// [Open] captures the advisories in a stream ([Config.AdvisoryStream]) so
// none is lost while no worker runs, and all workers share one durable
// consumer on it, so each advisory is handled by one of them, at least once.
//
// fn gets the job's stream sequence and the deliveries the message had
// (0 if the advisory does not say); it is typically a call of
// [Queue.DeadLetterBySeq]. A nil return acknowledges the advisory; an error
// has it redelivered after a few seconds, so fn must be idempotent. fn's
// errors and failed acks are logged on the logger ctx carries
// ([telemetry.WithLogger]).
// Errors: [ErrUnavailable] when the consumer cannot be reached.
func (q *Queue) WatchMaxDeliveries(ctx context.Context, fn func(ctx context.Context, streamSeq uint64, deliveries int) error) error {
	cons, err := q.js.Consumer(ctx, q.cfg.AdvisoryStream(), AdvisoryConsumerName)
	if err != nil {
		return classify("queue: advisory consumer", err)
	}
	log := telemetry.Logger(ctx)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var adv maxDeliveriesAdvisory
		if err := json.Unmarshal(m.Data(), &adv); err != nil || adv.StreamSeq == 0 {
			// Not an advisory we can act on; nothing else to do with it.
			log.Warn().Err(err).Bytes("advisory", m.Data()).Msg("dropping an unreadable MAX_DELIVERIES advisory")
			if err := m.Term(); err != nil {
				log.Warn().Err(err).Msg("term unreadable MAX_DELIVERIES advisory (it comes back after its AckWait)")
			}
			return
		}
		l := log.With().Uint64("stream_seq", adv.StreamSeq).Logger()
		if err := fn(ctx, adv.StreamSeq, int(min(adv.Deliveries, math.MaxInt32))); err != nil {
			l.Error().Err(err).Dur("retry_in", advisoryRetryDelay).Msg("handling MAX_DELIVERIES advisory failed")
			if err := m.NakWithDelay(advisoryRetryDelay); err != nil {
				l.Warn().Err(err).Msg("nak MAX_DELIVERIES advisory (it comes back after its AckWait)")
			}
			return
		}
		if err := m.Ack(); err != nil {
			// Redelivered after its AckWait; fn is idempotent.
			l.Warn().Err(err).Msg("ack MAX_DELIVERIES advisory (it comes back after its AckWait)")
		}
	}, jetstream.PullMaxMessages(4))
	if err != nil {
		return classify("queue: consume advisories", err)
	}
	<-ctx.Done()
	cc.Drain()
	<-cc.Closed()
	return nil
}

// DeadLetterBySeq moves the job at stream sequence seq of the job stream
// to the dead letters, for a job whose deliveries ran out with no worker
// left to report it: it publishes its [DeadLetter] (reason max_deliveries,
// error jobErr, worker = the caller), marks the status failed, and deletes
// the message from the job stream, in that order. The job is named, and
// its dead letter built, as a worker's [Delivery.DeadLetter] does; its
// attempts are the attempts before a handoff ([HeaderAttemptsBefore]) plus
// deliveries, the deliveries the message had (<= 0: the consumer's
// MaxDeliver as [Config] has it), so both ways agree. A job whose status
// record says it succeeded (its last delivery succeeded but the ack was
// lost) is not dead-lettered: its message is only deleted. It is
// idempotent and safe when several workers race: a message already gone is
// not an error, and the dead letter's Nats-Msg-Id dedupes a second publish.
// Errors: [ErrUnavailable], or JetStream API errors.
func (q *Queue) DeadLetterBySeq(ctx context.Context, seq uint64, deliveries int, jobErr JobError, worker string) error {
	raw, err := q.jobs.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return classify(fmt.Sprintf("queue: load job at sequence %d", seq), err)
	}
	if deliveries <= 0 {
		deliveries = max(q.cfg.MaxDeliver, 1)
	}
	m := jobMsg{subject: raw.Subject, header: raw.Header, data: raw.Data, seq: seq, stored: raw.Time, deliveries: deliveries}
	job, _ := m.job() // a bad job is still named, and dead-lettered as such
	switch st, err := q.GetStatus(ctx, job.ID); {
	case err == nil && st.State == StateSucceeded:
		return q.deleteJobMsg(ctx, seq)
	case err != nil && !errors.Is(err, ErrNotFound):
		return err
	}
	dl := m.deadLetter(job, jobErr, ReasonMaxDeliveries, worker)
	if err := q.PublishDeadLetter(ctx, dl); err != nil {
		return err
	}
	_, err = q.UpdateStatus(ctx, job.ID, func(s *Status) error {
		if s.State == StateSucceeded {
			return ErrSkipUpdate
		}
		if s.Domain == "" {
			s.Domain = job.Domain
		}
		s.State = StateFailed
		s.Error = &jobErr
		s.Attempts = max(s.Attempts, dl.Attempts)
		s.FinishedAt = time.Now().UTC()
		s.RetryingSince, s.NextRetryAt, s.RetryDeadline = time.Time{}, time.Time{}, time.Time{} // the run ends with the dead letter
		return nil
	})
	if err != nil {
		return err
	}
	return q.deleteJobMsg(ctx, seq)
}

func (q *Queue) deleteJobMsg(ctx context.Context, seq uint64) error {
	if err := q.jobs.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return classify(fmt.Sprintf("queue: delete job at sequence %d", seq), err)
	}
	return nil
}
