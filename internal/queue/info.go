package queue

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// QueueInfo is the queue as JetStream counts it: exact at any volume, read
// from stream and consumer info (a few JetStream API calls, whatever the
// number of jobs).
type QueueInfo struct {
	// Stream is the job stream: every job not yet acknowledged (waiting,
	// in flight, or waiting for its retry), per domain.
	Stream StreamFigures `json:"stream"`
	// Consumer is the workers' consumer ingest-workers.
	Consumer ConsumerFigures `json:"consumer"`
	// DeadLetters is the dead-letter stream INGEST_DLQ, per domain.
	DeadLetters StreamFigures `json:"dead_letters"`
	// At is when the figures were read.
	At time.Time `json:"at"`
}

// StreamFigures are a stream's counts and limits.
type StreamFigures struct {
	Name     string `json:"name"`
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
	MaxMsgs  int64  `json:"max_msgs"`  // -1: no limit
	MaxBytes int64  `json:"max_bytes"` // -1: no limit
	// Domains counts the messages per domain (the subject's last token).
	Domains map[string]uint64 `json:"domains"`
}

// ConsumerFigures are the workers' consumer's counts.
type ConsumerFigures struct {
	Name string `json:"name"`
	// Pending: jobs waiting in the queue, never delivered yet (the queue
	// depth).
	Pending uint64 `json:"pending"`
	// AckPending: delivered and not acknowledged: running, or waiting for
	// a retry after a Nak.
	AckPending int `json:"ack_pending"`
	// Redelivered: of those, delivered more than once.
	Redelivered int `json:"redelivered"`
	// Waiting: pull requests waiting for a job, one per free worker slot.
	Waiting int `json:"waiting"`
	// Delivered is the last stream sequence delivered; AckFloor the one
	// up to which every message is acknowledged.
	Delivered uint64 `json:"delivered_seq"`
	AckFloor  uint64 `json:"ack_floor_seq"`
	// MaxDeliver and AckWait are the consumer's settings (-1: unlimited).
	MaxDeliver     int     `json:"max_deliver"`
	AckWaitSeconds float64 `json:"ack_wait_seconds"`
}

// Info reads the queue's figures from JetStream: the job stream's and the
// dead-letter stream's info with their per-subject counts, and the job
// consumer's info. Errors: [ErrUnavailable], or the JetStream API error.
func (q *Queue) Info(ctx context.Context) (QueueInfo, error) {
	qi := QueueInfo{At: time.Now().UTC()}
	var err error
	if qi.Stream, err = q.streamFigures(ctx, q.cfg.Stream, SubjectWildcard, SubjectPrefix); err != nil {
		return qi, classify("queue: stream "+q.cfg.Stream, err)
	}
	if qi.DeadLetters, err = q.streamFigures(ctx, DLQStream, DLQSubjectPrefix+">", DLQSubjectPrefix); err != nil {
		return qi, classify("queue: stream "+DLQStream, err)
	}
	c, err := q.js.Consumer(ctx, q.cfg.Stream, ConsumerName)
	if err != nil {
		return qi, classify("queue: consumer "+ConsumerName, err)
	}
	info := c.CachedInfo()
	qi.Consumer = ConsumerFigures{
		Name:           ConsumerName,
		Pending:        info.NumPending,
		AckPending:     info.NumAckPending,
		Redelivered:    info.NumRedelivered,
		Waiting:        info.NumWaiting,
		Delivered:      info.Delivered.Stream,
		AckFloor:       info.AckFloor.Stream,
		MaxDeliver:     info.Config.MaxDeliver,
		AckWaitSeconds: info.Config.AckWait.Seconds(),
	}
	return qi, nil
}

// streamFigures reads the info of the stream name with its per-subject
// counts on filter, keyed by the subject with prefix cut. It looks the
// stream up afresh rather than call Info on a shared handle (see
// [Queue.streamInfo]): two API calls.
func (q *Queue) streamFigures(ctx context.Context, name, filter, prefix string) (StreamFigures, error) {
	s, err := q.js.Stream(ctx, name)
	if err != nil {
		return StreamFigures{}, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return StreamFigures{}, err
	}
	f := StreamFigures{
		Name:     info.Config.Name,
		Messages: info.State.Msgs,
		Bytes:    info.State.Bytes,
		MaxMsgs:  info.Config.MaxMsgs,
		MaxBytes: info.Config.MaxBytes,
		Domains:  make(map[string]uint64, len(info.State.Subjects)),
	}
	for subj, n := range info.State.Subjects {
		f.Domains[strings.TrimPrefix(subj, prefix)] += n
	}
	return f, nil
}
