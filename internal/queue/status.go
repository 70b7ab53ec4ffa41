package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// maxCASRetries bounds [Queue.UpdateStatus]'s compare-and-set loop.
const maxCASRetries = 100

// GetStatus returns the status record of job id, with its KV revision in
// [Status.Revision]. Errors: [ErrNotFound], [ErrUnavailable].
func (q *Queue) GetStatus(ctx context.Context, id string) (Status, error) {
	e, err := q.kv.Get(ctx, statusKey(id))
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			return Status{}, fmt.Errorf("queue: status of job %s: %w", id, ErrNotFound)
		}
		if errors.Is(err, jetstream.ErrInvalidKey) {
			return Status{}, fmt.Errorf("queue: status of job %q: %w (invalid id)", id, ErrNotFound)
		}
		return Status{}, classify("queue: status of job "+id, err)
	}
	return decodeStatus(e)
}

func decodeStatus(e jetstream.KeyValueEntry) (Status, error) {
	var s Status
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return Status{}, fmt.Errorf("queue: status record %q (revision %d): %w", e.Key(), e.Revision(), err)
	}
	s.Revision = e.Revision()
	return s, nil
}

func (q *Queue) createStatus(ctx context.Context, s Status) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode status: %w", err)
	}
	_, err = q.kv.Create(ctx, statusKey(s.JobID), b)
	return err
}

// UpdateStatus applies fn to job id's status record with compare-and-set
// on the KV revision, retrying on conflicting writes, and returns the record
// written. A missing record is created: fn then sees a zero Status with only
// JobID set. fn may be called several times and must only change the
// record it is given; returning [ErrSkipUpdate] leaves the record as it is
// (UpdateStatus then returns it and a nil error); any other error aborts
// and is returned wrapped. UpdatedAt is set to the current time, JobID to
// id.
//
// Errors: fn's, [ErrConflict] (retries exhausted), [ErrUnavailable].
func (q *Queue) UpdateStatus(ctx context.Context, id string, fn func(*Status) error) (Status, error) {
	key := statusKey(id)
	for range maxCASRetries {
		cur, err := q.GetStatus(ctx, id)
		missing := errors.Is(err, ErrNotFound)
		if err != nil && !missing {
			return Status{}, err
		}
		if missing {
			cur = Status{JobID: id}
		}
		next := cur
		next.History = slices.Clone(cur.History)
		if err := fn(&next); err != nil {
			if errors.Is(err, ErrSkipUpdate) {
				return cur, nil
			}
			return cur, fmt.Errorf("queue: update status of job %s: %w", id, err)
		}
		next.JobID = id
		next.UpdatedAt = time.Now().UTC()
		b, err := json.Marshal(next)
		if err != nil {
			return cur, fmt.Errorf("queue: encode status of job %s: %w", id, err)
		}
		var rev uint64
		if missing {
			rev, err = q.kv.Create(ctx, key, b)
		} else {
			rev, err = q.kv.Update(ctx, key, b, cur.Revision)
		}
		if err == nil {
			next.Revision = rev
			return next, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return cur, classify("queue: write status of job "+id, err)
		}
		if ctx.Err() != nil {
			return cur, fmt.Errorf("queue: update status of job %s: %w", id, context.Cause(ctx))
		}
	}
	return Status{}, fmt.Errorf("queue: update status of job %s: %w after %d attempts", id, ErrConflict, maxCASRetries)
}

// Filter selects status records for [Queue.ListStatus]; zero fields match
// everything.
type Filter struct {
	State  string // one of the State constants
	Domain string
	Limit  int // most records returned; <= 0: all
}

// ListStatus returns the status records matching f, newest first (by
// EnqueuedAt, else UpdatedAt). It reads the latest value of every key in
// the bucket, but holds at most twice f.Limit records while it does.
// Errors: [ErrUnavailable].
func (q *Queue) ListStatus(ctx context.Context, f Filter) ([]Status, error) {
	w, err := q.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, classify("queue: list status", err)
	}
	defer func() { _ = w.Stop() }() // a stop error leaves nothing to clean up
	var out []Status
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("queue: list status: %w", context.Cause(ctx))
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("queue: list status: %w: watcher closed", ErrUnavailable)
			}
			if e == nil { // all current values delivered
				sortNewestFirst(out)
				if f.Limit > 0 && len(out) > f.Limit {
					out = out[:f.Limit]
				}
				return out, nil
			}
			s, err := decodeStatus(e)
			if err != nil {
				continue // a foreign or corrupt record is not a job's status
			}
			if (f.State == "" || s.State == f.State) && (f.Domain == "" || s.Domain == f.Domain) {
				out = append(out, s)
				if f.Limit > 0 && len(out) >= 2*f.Limit {
					sortNewestFirst(out)
					out = slices.Delete(out, f.Limit, len(out))
				}
			}
		}
	}
}

func sortNewestFirst(s []Status) {
	when := func(st Status) time.Time {
		if st.EnqueuedAt.IsZero() {
			return st.UpdatedAt
		}
		return st.EnqueuedAt
	}
	slices.SortFunc(s, func(a, b Status) int {
		if c := when(b).Compare(when(a)); c != 0 {
			return c
		}
		if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.JobID, a.JobID)
	})
}

// WatchStatus streams every status record as it is written, starting with
// the current value of each, until ctx is done (the channel is then
// closed). For live dashboards. Errors: [ErrUnavailable].
func (q *Queue) WatchStatus(ctx context.Context) (<-chan Status, error) {
	w, err := q.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, classify("queue: watch status", err)
	}
	return streamStatus(ctx, w, 64), nil
}

// WatchJob streams job id's status record: its current value first (when
// it has one), then every write, until ctx is done or the watch breaks;
// the channel is then closed, so a caller that must not miss the end
// should also read [Queue.GetStatus] now and then. Errors:
// [ErrUnavailable].
func (q *Queue) WatchJob(ctx context.Context, id string) (<-chan Status, error) {
	w, err := q.kv.Watch(ctx, statusKey(id), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, classify("queue: watch status of job "+id, err)
	}
	return streamStatus(ctx, w, 8), nil
}

// streamStatus decodes w's updates onto a channel of size buffered records
// until ctx is done or the watch ends, then stops w and closes the channel.
// The nil entry that marks the end of the current values, and records that
// do not decode, are skipped.
func streamStatus(ctx context.Context, w jetstream.KeyWatcher, size int) <-chan Status {
	out := make(chan Status, size)
	go func() {
		defer close(out)
		defer func() { _ = w.Stop() }() // nothing to clean up on a stop error
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue
				}
				s, err := decodeStatus(e)
				if err != nil {
					continue
				}
				select {
				case out <- s:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}
