package queue

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// WorkersBucket is the KV bucket where running workers announce
// themselves ([Queue.PutWorker]): one [WorkerInfo] per worker, dropped by
// the bucket's TTL ([WorkerTTL]) once the worker stops writing it.
const WorkersBucket = "ingest_workers"

// WorkerTTL is the workers bucket's TTL: a worker whose heartbeat is this
// old is gone (crashed, or cut off from NATS). Workers write theirs every
// [WorkerHeartbeat].
const (
	WorkerTTL       = 30 * time.Second
	WorkerHeartbeat = 10 * time.Second
)

// WorkerInfo is a worker's heartbeat record in [WorkersBucket]: who it is,
// since when it runs and what it runs now.
type WorkerInfo struct {
	Name        string      `json:"name"`
	Host        string      `json:"host,omitempty"`
	PID         int         `json:"pid,omitempty"`
	Version     string      `json:"version,omitempty"`
	Concurrency int         `json:"concurrency"` // job slots
	StartedAt   time.Time   `json:"started_at"`
	HeartbeatAt time.Time   `json:"heartbeat_at"`
	Stopping    bool        `json:"stopping,omitempty"` // draining after SIGTERM: takes no new job
	Jobs        []WorkerJob `json:"jobs"`               // running now, oldest first
	// Finished counts the attempts this process finished, by outcome
	// (succeeded, retrying, failed, canceled, shutdown, ...).
	Finished map[string]uint64 `json:"finished,omitempty"`
}

// WorkerJob is a job a worker runs now.
type WorkerJob struct {
	JobID        string    `json:"job_id"`
	Domain       string    `json:"domain"`
	FileName     string    `json:"file_name"`
	Attempt      int       `json:"attempt"`
	StartedAt    time.Time `json:"started_at"`
	Phase        string    `json:"phase,omitempty"`
	RecordsTotal uint64    `json:"records_total"`
	RecordsSent  uint64    `json:"records_sent"`
}

// auxBuckets are key-value buckets beside the queue's own, bound on first
// use.
type auxBuckets struct {
	mu      sync.Mutex
	workers jetstream.KeyValue
}

// workersKV binds [WorkersBucket], creating it when missing (TTL
// [WorkerTTL], the queue's replicas).
func (q *Queue) workersKV(ctx context.Context) (jetstream.KeyValue, error) {
	q.aux.mu.Lock()
	defer q.aux.mu.Unlock()
	if q.aux.workers != nil {
		return q.aux.workers, nil
	}
	kv, err := q.Bucket(ctx, WorkersBucket, "embedstream workers' heartbeats, key = worker name (base64url)", WorkerTTL)
	if err != nil {
		return nil, err
	}
	q.aux.workers = kv
	return kv, nil
}

// workerKey maps a worker name, which may hold any character, onto a KV
// key.
func workerKey(name string) string { return base64.RawURLEncoding.EncodeToString([]byte(name)) }

// PutWorker writes w's heartbeat record (HeartbeatAt now when zero).
// Errors: [ErrUnavailable], or the JetStream API error.
func (q *Queue) PutWorker(ctx context.Context, w WorkerInfo) error {
	if w.Name == "" {
		return errors.New("queue: worker heartbeat without a name")
	}
	if w.HeartbeatAt.IsZero() {
		w.HeartbeatAt = time.Now().UTC()
	}
	if w.Jobs == nil {
		w.Jobs = []WorkerJob{}
	}
	kv, err := q.workersKV(ctx)
	if err != nil {
		return err
	}
	b, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("queue: encode heartbeat of worker %s: %w", w.Name, err)
	}
	if _, err := kv.Put(ctx, workerKey(w.Name), b); err != nil {
		return classify("queue: heartbeat of worker "+w.Name, err)
	}
	return nil
}

// DeleteWorker removes worker name's record (a clean stop). Errors:
// [ErrUnavailable], or the JetStream API error.
func (q *Queue) DeleteWorker(ctx context.Context, name string) error {
	kv, err := q.workersKV(ctx)
	if err != nil {
		return err
	}
	if err := kv.Purge(ctx, workerKey(name)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return classify("queue: remove worker "+name, err)
	}
	return nil
}

// ListWorkers returns the workers that wrote a heartbeat within
// [WorkerTTL] (the bucket drops older ones), by name. It reads one record
// per worker. Errors:
// [ErrUnavailable].
func (q *Queue) ListWorkers(ctx context.Context) ([]WorkerInfo, error) {
	kv, err := q.workersKV(ctx)
	if err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, classify("queue: list workers", err)
	}
	defer func() { _ = w.Stop() }() // nothing to clean up on a stop error
	var out []WorkerInfo
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("queue: list workers: %w", context.Cause(ctx))
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("queue: list workers: %w: watcher closed", ErrUnavailable)
			}
			if e == nil {
				slices.SortFunc(out, func(a, b WorkerInfo) int { return cmp.Compare(a.Name, b.Name) })
				return out, nil
			}
			var wi WorkerInfo
			if json.Unmarshal(e.Value(), &wi) != nil || wi.Name == "" {
				continue // not a heartbeat of ours
			}
			out = append(out, wi)
		}
	}
}
