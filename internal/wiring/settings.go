package wiring

import (
	"errors"
	"fmt"
	"time"

	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/queue"
)

// NATS holds the connection and queue-topology settings shared by the
// worker, the publisher and the local stack. Their defaults are
// internal/queue's; [Conn] and [Queue] map them.
type NATS struct {
	URL        string        // NATS_URL
	Creds      string        // NATS_CREDS: path to a .creds file
	TLSCA      string        // NATS_TLS_CA: CA bundle for a TLS server
	TLSCert    string        // NATS_TLS_CERT: client certificate (mTLS)
	TLSKey     string        // NATS_TLS_KEY: client key (mTLS)
	Replicas   int           // NATS_REPLICAS: stream, KV and object store replicas
	Stream     string        // NATS_STREAM: the job stream's name
	JobTTL     time.Duration // JOB_STATUS_TTL: how long job status records live
	MaxBytes   int64         // QUEUE_MAX_BYTES: the job stream's size limit
	MaxMsgs    int64         // QUEUE_MAX_MSGS: the job stream's message limit
	AckWait    time.Duration // ACK_WAIT
	MaxDeliver int           // MAX_DELIVER
}

// Bind binds the NATS_*, JOB_STATUS_TTL, QUEUE_MAX_*, ACK_WAIT and
// MAX_DELIVER settings.
func (c *NATS) Bind(b *config.Binder) {
	b.String(&c.URL, "nats-url", "NATS_URL", queue.DefaultURL, "NATS server URL(s), comma-separated")
	b.String(&c.Creds, "nats-creds", "NATS_CREDS", "", "NATS credentials file (optional)")
	b.String(&c.TLSCA, "nats-tls-ca", "NATS_TLS_CA", "", "CA bundle to verify a TLS NATS server (optional)")
	b.String(&c.TLSCert, "nats-tls-cert", "NATS_TLS_CERT", "", "client certificate for NATS mTLS (optional)")
	b.String(&c.TLSKey, "nats-tls-key", "NATS_TLS_KEY", "", "client key for NATS mTLS (optional)")
	b.Int(&c.Replicas, "nats-replicas", "NATS_REPLICAS", queue.DefaultReplicas, "replicas of the job stream, dead letters, status bucket and object store")
	b.String(&c.Stream, "nats-stream", "NATS_STREAM", queue.DefaultStream, "name of the JetStream job stream")
	b.Duration(&c.JobTTL, "job-status-ttl", "JOB_STATUS_TTL", queue.DefaultStatusTTL, "how long job status records are kept")
	b.Int64(&c.MaxBytes, "queue-max-bytes", "QUEUE_MAX_BYTES", queue.DefaultMaxBytes, "size limit of the job stream; a full queue refuses new jobs")
	b.Int64(&c.MaxMsgs, "queue-max-msgs", "QUEUE_MAX_MSGS", queue.DefaultMaxMsgs, "message limit of the job stream; a full queue refuses new jobs")
	b.Duration(&c.AckWait, "ack-wait", "ACK_WAIT", queue.DefaultAckWait, "how long a job may go without a lease extension before redelivery")
	b.Int(&c.MaxDeliver, "max-deliver", "MAX_DELIVER", queue.DefaultMaxDeliver, "deliveries of a job before it is dead-lettered")
}

// Validate reports every NATS setting out of its range, joined.
func (c *NATS) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, config.FieldError("nats-url", "NATS_URL", "must not be empty"))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, config.FieldError("nats-replicas", "NATS_REPLICAS", "must be 1 to 5"))
	}
	if c.Stream == "" {
		errs = append(errs, config.FieldError("nats-stream", "NATS_STREAM", "must not be empty"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, config.FieldError("nats-tls-cert", "NATS_TLS_CERT", "needs NATS_TLS_KEY too, and the other way round"))
	}
	if c.AckWait < time.Second {
		errs = append(errs, config.FieldError("ack-wait", "ACK_WAIT", "must be at least 1s"))
	}
	if c.MaxDeliver < 1 {
		errs = append(errs, config.FieldError("max-deliver", "MAX_DELIVER", "must be at least 1"))
	}
	if c.JobTTL < time.Minute {
		errs = append(errs, config.FieldError("job-status-ttl", "JOB_STATUS_TTL", "must be at least 1m"))
	}
	return errors.Join(errs...)
}

// Pickle bounds what the pickle loader accepts (hostile-input limits),
// read by the worker and the local stack. Its defaults are
// internal/pickleload's.
type Pickle struct {
	DecodedFactor int // PICKLE_DECODED_FACTOR: decoded size limit = factor x file size + pickleload.DefaultDecodedSlack
	MaxDepth      int // PICKLE_MAX_DEPTH: nesting limit
}

// Bind binds PICKLE_DECODED_FACTOR and PICKLE_MAX_DEPTH.
func (c *Pickle) Bind(b *config.Binder) {
	b.Int(&c.DecodedFactor, "pickle-decoded-factor", "PICKLE_DECODED_FACTOR", pickleload.DefaultDecodedFactor,
		fmt.Sprintf("refuse a pickle whose decoded size or conversion work exceeds this multiple of its file size (plus %d MiB)", pickleload.DefaultDecodedSlack>>20))
	b.Int(&c.MaxDepth, "pickle-max-depth", "PICKLE_MAX_DEPTH", pickleload.DefaultMaxDepth, "refuse a pickle nested deeper than this")
}

// Validate reports a pickle limit out of its range.
func (c *Pickle) Validate() error {
	var errs []error
	if c.DecodedFactor < 1 || c.DecodedFactor > 1000 {
		errs = append(errs, config.FieldError("pickle-decoded-factor", "PICKLE_DECODED_FACTOR", "must be 1 to 1000"))
	}
	if c.MaxDepth < 16 || c.MaxDepth > 100000 {
		errs = append(errs, config.FieldError("pickle-max-depth", "PICKLE_MAX_DEPTH", "must be 16 to 100000"))
	}
	return errors.Join(errs...)
}
