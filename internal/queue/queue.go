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

// Defaults of [Config] and [ConnOptions]: a zero field takes these, except
// MaxBytes and MaxMsgs, whose zero means no limit (the binaries' settings
// QUEUE_MAX_BYTES and QUEUE_MAX_MSGS default to DefaultMaxBytes and
// DefaultMaxMsgs).
const (
	// DefaultURL is the NATS server a connection dials when none is given.
	DefaultURL = nats.DefaultURL
	// DefaultReplicas is the replicas of every stream, bucket and store.
	DefaultReplicas = 1
	// DefaultAckWait is how long a job may go without a lease extension
	// before JetStream redelivers it.
	DefaultAckWait = 30 * time.Second
	// DefaultMaxDeliver is how many times a job is delivered before it is
	// dead-lettered.
	DefaultMaxDeliver = 5
	// DefaultMaxAckPending is the most jobs in flight across all workers
	// together.
	DefaultMaxAckPending = 1000
	// DefaultStatusTTL is how long a job's status record lives after its
	// last write.
	DefaultStatusTTL = 7 * 24 * time.Hour
	// DefaultMaxBytes is the job stream's size limit the settings default
	// to; a full queue refuses new jobs.
	DefaultMaxBytes int64 = 1 << 30
	// DefaultMaxMsgs is the job stream's message limit the settings
	// default to.
	DefaultMaxMsgs int64 = 1_000_000
)

// MaxJobBytes is the job stream's MaxMsgSize: the largest job message it
// stores (headers included). A job is a small JSON object (its file_name
// is at most 1 KiB; see [ParseJob]), and the publisher's API takes bodies
// of at most 64 KiB; a larger message is refused when it is published
// ([ErrTooLarge]), so it never reaches a worker.
const MaxJobBytes = 64 << 10

// Bounds of the dead-letter stream INGEST_DLQ (DiscardNew, no age limit):
// dead letters are small (the job message plus its error), so these hold
// far more than an operator will triage, and a full stream refuses new dead
// letters loudly instead of dropping old ones silently.
const (
	DLQMaxBytes int64 = 1 << 30
	DLQMaxMsgs  int64 = 1_000_000
)

// AdvisoryConsumerName is the durable consumer on the advisory stream (see
// [Config.AdvisoryStream]) that workers share to handle MAX_DELIVERIES
// advisories.
const AdvisoryConsumerName = "ingest-max-deliveries"

// Config is the queue topology: the job stream, its consumer and the status
// bucket. The binaries build it from their settings (internal/wiring); a
// zero field takes the default named.
type Config struct {
	Stream        string        // job stream name ([DefaultStream])
	Replicas      int           // replicas of every stream, bucket and store ([DefaultReplicas])
	MaxBytes      int64         // job stream size limit; <= 0: unlimited
	MaxMsgs       int64         // job stream message limit; <= 0: unlimited
	AckWait       time.Duration // consumer AckWait ([DefaultAckWait])
	MaxDeliver    int           // consumer MaxDeliver ([DefaultMaxDeliver])
	MaxAckPending int           // consumer MaxAckPending, all workers' slots together ([DefaultMaxAckPending])
	StatusTTL     time.Duration // lifetime of a status record after its last write ([DefaultStatusTTL])
	// KeepTopology binds every existing stream, bucket, object store and
	// consumer as it is, creating only what is missing. Publishers (API and
	// CLI) set it: the topology's replicas, limits, TTL and consumer
	// settings belong to the operators and the workers, and a publisher
	// started with other settings (a laptop with the default environment
	// against an R3 cluster) must not rewrite them.
	KeepTopology bool
}

// AdvisoryStream is the name of the stream that captures the job consumer's
// MAX_DELIVERIES advisories, so none is lost while no worker listens:
// "<Stream>_ADVISORIES".
func (c Config) AdvisoryStream() string { return c.Stream + "_ADVISORIES" }

// AdvisorySubject is the subject of the job consumer's MAX_DELIVERIES
// advisories.
func (c Config) AdvisorySubject() string {
	return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + c.Stream + "." + ConsumerName
}

func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Replicas < 1 {
		c.Replicas = DefaultReplicas
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	if c.StatusTTL <= 0 {
		c.StatusTTL = DefaultStatusTTL
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = -1
	}
	if c.MaxMsgs <= 0 {
		c.MaxMsgs = -1
	}
	return c
}

// Queue is the job queue: the JetStream handles of the job stream, the dead
// letters, the status bucket and the file store. It is safe for concurrent
// use.
type Queue struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	cfg   Config
	jobs  jetstream.Stream
	dlq   jetstream.Stream
	adv   jetstream.Stream
	kv    jetstream.KeyValue
	files jetstream.ObjectStore
	aux   auxBuckets // buckets bound on first use (workers)
}

// Open creates or updates the whole topology, idempotently and safely when
// many processes race to do it:
//   - stream cfg.Stream: subjects ingest.jobs.>, work-queue retention, file
//     storage, cfg.Replicas, 10-minute duplicate window, cfg.MaxBytes and
//     cfg.MaxMsgs with DiscardNew, messages of at most [MaxJobBytes];
//   - stream INGEST_DLQ: subjects ingest.dlq.>, limits retention, at most
//     [DLQMaxBytes] and [DLQMaxMsgs] with DiscardNew and no age limit: a
//     dead letter is never dropped; when the stream is full, dead-lettering
//     fails (wrapping [ErrQueueFull]) and the job stays in the job stream
//     until an operator makes room;
//   - stream cfg.AdvisoryStream(): captures the consumer's MAX_DELIVERIES
//     advisories, with its durable consumer [AdvisoryConsumerName];
//   - KV bucket ingest_jobs with TTL cfg.StatusTTL;
//   - object store ingest_files;
//   - durable pull consumer ingest-workers (explicit ack, cfg.AckWait,
//     cfg.MaxDeliver, cfg.MaxAckPending).
//
// Without cfg.KeepTopology, every Open applies these settings to existing
// resources too (workers do, so they all share one topology); with it, an
// existing resource is bound as it is and only a missing one is created
// with them.
//
// Errors reaching JetStream wrap [ErrUnavailable].
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Queue, error) {
	cfg = cfg.withDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("queue: jetstream: %w", err)
	}
	q := &Queue{nc: nc, js: js, cfg: cfg}

	q.jobs, err = q.stream(ctx, jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "embedstream ingest jobs",
		Subjects:    []string{SubjectWildcard},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  DuplicateWindow,
		MaxBytes:    cfg.MaxBytes,
		MaxMsgs:     cfg.MaxMsgs,
		MaxMsgSize:  MaxJobBytes,
		Discard:     jetstream.DiscardNew,
		AllowDirect: true,
	})
	if err != nil {
		return nil, classify("queue: create stream "+cfg.Stream, err)
	}
	q.dlq, err = q.stream(ctx, jetstream.StreamConfig{
		Name:        DLQStream,
		Description: "embedstream dead-lettered jobs",
		Subjects:    []string{DLQSubjectPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  DuplicateWindow,
		MaxBytes:    DLQMaxBytes,
		MaxMsgs:     DLQMaxMsgs,
		Discard:     jetstream.DiscardNew,
		AllowDirect: true,
	})
	if err != nil {
		return nil, classify("queue: create stream "+DLQStream, err)
	}
	q.adv, err = q.stream(ctx, jetstream.StreamConfig{
		Name:        cfg.AdvisoryStream(),
		Description: "MAX_DELIVERIES advisories of " + cfg.Stream + "/" + ConsumerName,
		Subjects:    []string{cfg.AdvisorySubject()},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		MaxAge:      7 * 24 * time.Hour,
	})
	if err != nil {
		return nil, classify("queue: create stream "+cfg.AdvisoryStream(), err)
	}
	kvCfg := jetstream.KeyValueConfig{
		Bucket:      StatusBucket,
		Description: "embedstream job status, key = job id",
		History:     1,
		TTL:         cfg.StatusTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	}
	q.kv, err = upsert(ctx, func() (jetstream.KeyValue, error) {
		if !cfg.KeepTopology {
			return js.CreateOrUpdateKeyValue(ctx, kvCfg)
		}
		kv, err := js.KeyValue(ctx, StatusBucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return js.CreateKeyValue(ctx, kvCfg)
		}
		return kv, err
	})
	if err != nil {
		return nil, classify("queue: create bucket "+StatusBucket, err)
	}
	objCfg := jetstream.ObjectStoreConfig{
		Bucket:      FilesBucket,
		Description: "embedstream uploaded job files",
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	}
	q.files, err = upsert(ctx, func() (jetstream.ObjectStore, error) {
		if !cfg.KeepTopology {
			return js.CreateOrUpdateObjectStore(ctx, objCfg)
		}
		obs, err := js.ObjectStore(ctx, FilesBucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return js.CreateObjectStore(ctx, objCfg)
		}
		return obs, err
	})
	if err != nil {
		return nil, classify("queue: create object store "+FilesBucket, err)
	}
	workers := jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "embedstream workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    cfg.MaxDeliver,
		MaxAckPending: cfg.MaxAckPending,
		FilterSubject: SubjectWildcard,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if err := q.consumer(ctx, cfg.Stream, workers); err != nil {
		return nil, classify("queue: create consumer "+ConsumerName, err)
	}
	err = q.consumer(ctx, cfg.AdvisoryStream(), jetstream.ConsumerConfig{
		Durable:       AdvisoryConsumerName,
		Description:   "embedstream workers handling MAX_DELIVERIES advisories",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 100,
	})
	if err != nil {
		return nil, classify("queue: create consumer "+AdvisoryConsumerName, err)
	}
	return q, nil
}

// stream creates or updates the stream sc describes or, with KeepTopology,
// binds it as it is and creates it only when missing.
func (q *Queue) stream(ctx context.Context, sc jetstream.StreamConfig) (jetstream.Stream, error) {
	return upsert(ctx, func() (jetstream.Stream, error) {
		if !q.cfg.KeepTopology {
			return q.js.CreateOrUpdateStream(ctx, sc)
		}
		s, err := q.js.Stream(ctx, sc.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return q.js.CreateStream(ctx, sc)
		}
		return s, err
	})
}

// consumer creates or updates the durable consumer cc describes on stream
// or, with KeepTopology, leaves an existing one as it is.
func (q *Queue) consumer(ctx context.Context, stream string, cc jetstream.ConsumerConfig) error {
	_, err := upsert(ctx, func() (jetstream.Consumer, error) {
		if !q.cfg.KeepTopology {
			return q.js.CreateOrUpdateConsumer(ctx, stream, cc)
		}
		c, err := q.js.Consumer(ctx, stream, cc.Durable)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return q.js.CreateConsumer(ctx, stream, cc)
		}
		return c, err
	})
	return err
}

// upsert runs a create-or-update call again when it lost a creation race
// to another process ("already exists"/"already in use"): the retry then
// finds the resource and updates it.
func upsert[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for range 5 {
		v, err = f()
		if err == nil || !isAlreadyExists(err) || ctx.Err() != nil {
			return v, err
		}
	}
	return v, err
}

func isAlreadyExists(err error) bool {
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || errors.Is(err, jetstream.ErrConsumerExists) ||
		errors.Is(err, jetstream.ErrBucketExists) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jetstream.JSErrCodeStreamNameInUse, jetstream.JSErrCodeConsumerNameExists,
			jetstream.JSErrCodeConsumerAlreadyExists, jetstream.JSErrCodeConsumerExists:
			return true
		}
		return strings.Contains(apiErr.Description, "already")
	}
	return false
}

// Config returns the topology q was opened with (defaults filled in).
func (q *Queue) Config() Config { return q.cfg }

// Conn returns the NATS connection q uses.
func (q *Queue) Conn() *nats.Conn { return q.nc }

// ConsumerStats is the state of the workers' consumer ingest-workers.
type ConsumerStats struct {
	Pending     uint64 // jobs waiting in the queue, not yet delivered
	InFlight    int    // delivered, not yet acknowledged
	Waiting     int    // pull requests waiting for jobs: one per worker slot that is free
	Redelivered int    // in flight and delivered more than once
}

// ConsumerStats returns the job consumer's state, from its info. Errors:
// [ErrUnavailable], or the JetStream API error (the consumer does not
// exist).
func (q *Queue) ConsumerStats(ctx context.Context) (ConsumerStats, error) {
	// The lookup returns the consumer's info: no second call.
	c, err := q.js.Consumer(ctx, q.cfg.Stream, ConsumerName)
	if err != nil {
		return ConsumerStats{}, classify("queue: consumer "+ConsumerName, err)
	}
	info := c.CachedInfo()
	return ConsumerStats{
		Pending: info.NumPending, InFlight: info.NumAckPending,
		Waiting: info.NumWaiting, Redelivered: info.NumRedelivered,
	}, nil
}

// DeadLetterCount returns the number of dead letters (messages in
// INGEST_DLQ), from the stream's info, without reading them. Errors:
// [ErrUnavailable].
func (q *Queue) DeadLetterCount(ctx context.Context) (uint64, error) {
	info, err := q.streamInfo(ctx, DLQStream)
	if err != nil {
		return 0, classify("queue: stream "+DLQStream, err)
	}
	return info.State.Msgs, nil
}

// streamInfo reads the info of the stream name through a handle of its
// own. jetstream's stream and consumer handles cache the info they last
// fetched without a lock (nats.go v1.53.1: Info writes it; GetMsg, and so
// the key-value Get, read it), so the queue never calls Info on the
// handles its goroutines share: each read looks the stream up afresh,
// which is itself the one INFO request.
func (q *Queue) streamInfo(ctx context.Context, name string) (*jetstream.StreamInfo, error) {
	s, err := q.js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.CachedInfo(), nil
}

// Bucket binds the key-value bucket name beside the queue's, for another
// component's small shared state (the dashboard's revoked sessions). A
// missing bucket is created with description, one value per key, file
// storage, ttl (0: none) and the queue's replicas; an existing one is
// bound as it is, so processes opening it with other settings do not
// rewrite it. Errors: [ErrUnavailable], or the JetStream API error.
func (q *Queue) Bucket(ctx context.Context, name, description string, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := upsert(ctx, func() (jetstream.KeyValue, error) {
		kv, err := q.js.KeyValue(ctx, name)
		if !errors.Is(err, jetstream.ErrBucketNotFound) {
			return kv, err
		}
		return q.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      name,
			Description: description,
			History:     1,
			TTL:         ttl,
			Storage:     jetstream.FileStorage,
			Replicas:    q.cfg.Replicas,
		})
	})
	if err != nil {
		return nil, classify("queue: bucket "+name, err)
	}
	return kv, nil
}

// Ready reports whether NATS is connected and the job stream answers; for
// readiness probes.
func (q *Queue) Ready(ctx context.Context) error {
	if !q.nc.IsConnected() {
		return fmt.Errorf("queue: %w: not connected (%s)", ErrUnavailable, q.nc.Status())
	}
	if _, err := q.streamInfo(ctx, q.cfg.Stream); err != nil {
		return classify("queue: stream "+q.cfg.Stream, err)
	}
	return nil
}
