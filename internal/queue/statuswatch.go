package queue

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StatusEvent is one change of the job status bucket, as
// [Queue.WatchStatusEvents] delivers it.
type StatusEvent struct {
	// Key is the record's KV key (the job id, escaped: see [StatusKey]).
	Key string
	// Status is the record written; zero for a deletion. A record that is
	// not a job's status (foreign or corrupt) arrives as a deletion of its
	// key, so a reader keeps no stale copy.
	Status Status
	// Deleted is true when the key was deleted or purged.
	Deleted bool
	// Revision is the KV revision (the bucket stream's sequence).
	Revision uint64
	// Written is when JetStream stored the record: it expires
	// [StatusBucketInfo.TTL] later.
	Written time.Time
	// Synced marks the end of the current records: every record present
	// when the watch started has been delivered before it. It carries no
	// record; the events after it are live changes.
	Synced bool
}

// StatusKey returns the KV key of job id's status record.
func StatusKey(id string) string { return statusKey(id) }

// WatchStatusEvents streams the job status bucket: the current value of
// every key, then a Synced event, then every write, deletion and purge as
// it happens, until ctx is done or the watch breaks; the channel is then
// closed. Records leaving by the bucket's TTL produce no event: a reader
// that keeps them expires them itself, [StatusBucketInfo.TTL] after their
// Written time. Errors: [ErrUnavailable].
func (q *Queue) WatchStatusEvents(ctx context.Context) (<-chan StatusEvent, error) {
	w, err := q.kv.WatchAll(ctx)
	if err != nil {
		return nil, classify("queue: watch status", err)
	}
	out := make(chan StatusEvent, 256)
	go func() {
		defer close(out)
		defer func() { _ = w.Stop() }() // nothing to clean up on a stop error
		for {
			var ev StatusEvent
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					ev.Synced = true
					break
				}
				ev.Key, ev.Revision, ev.Written = e.Key(), e.Revision(), e.Created()
				if e.Operation() != jetstream.KeyValuePut {
					ev.Deleted = true
					break
				}
				st, err := decodeStatus(e)
				if err != nil {
					ev.Deleted = true
					break
				}
				ev.Status = st
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// StatusBucketInfo is the job status bucket's state.
type StatusBucketInfo struct {
	// Values is the number of values the bucket holds: one per job
	// (records are never deleted, only expired), plus deletion markers.
	Values uint64
	// LastRevision is the revision of the latest write.
	LastRevision uint64
	// TTL is how long a record lives after its last write.
	TTL time.Duration
}

// StatusBucket reads the status bucket's state: one JetStream API call.
// Errors: [ErrUnavailable].
func (q *Queue) StatusBucket(ctx context.Context) (StatusBucketInfo, error) {
	// The bucket's stream info, read as [jetstream.KeyValue.Status] reads
	// it but not through the shared bucket handle (see streamInfo).
	si, err := q.streamInfo(ctx, statusStream)
	if err != nil {
		return StatusBucketInfo{}, classify("queue: status bucket", err)
	}
	return StatusBucketInfo{Values: si.State.Msgs, LastRevision: si.State.LastSeq, TTL: si.Config.MaxAge}, nil
}

// statusStream is the stream behind the status bucket.
const statusStream = "KV_" + StatusBucket
