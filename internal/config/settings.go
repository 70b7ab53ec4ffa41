package config

import (
	"errors"
	"flag"
	"time"
)

// Log holds the logging settings every binary reads.
type Log struct {
	Level  string // LOG_LEVEL: trace, debug, info, warn, error
	Format string // LOG_FORMAT: json or console
}

func (c *Log) bind(b *binder) {
	b.String(&c.Level, "log-level", "LOG_LEVEL", "info", "log level: trace, debug, info, warn, error")
	b.String(&c.Format, "log-format", "LOG_FORMAT", "json", "log format: json, or console for humans")
}

func (c *Log) validate() error {
	switch c.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		return fieldErr("log-level", "LOG_LEVEL", "want trace, debug, info, warn or error, got "+quote(c.Level))
	}
	switch c.Format {
	case "json", "console":
	default:
		return fieldErr("log-format", "LOG_FORMAT", "want json or console, got "+quote(c.Format))
	}
	return nil
}

// NATS holds the connection and queue-topology settings shared by the
// worker and the publisher.
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

func (c *NATS) bind(b *binder) {
	b.String(&c.URL, "nats-url", "NATS_URL", "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated")
	b.String(&c.Creds, "nats-creds", "NATS_CREDS", "", "NATS credentials file (optional)")
	b.String(&c.TLSCA, "nats-tls-ca", "NATS_TLS_CA", "", "CA bundle to verify a TLS NATS server (optional)")
	b.String(&c.TLSCert, "nats-tls-cert", "NATS_TLS_CERT", "", "client certificate for NATS mTLS (optional)")
	b.String(&c.TLSKey, "nats-tls-key", "NATS_TLS_KEY", "", "client key for NATS mTLS (optional)")
	b.Int(&c.Replicas, "nats-replicas", "NATS_REPLICAS", 1, "replicas of the job stream, dead letters, status bucket and object store")
	b.String(&c.Stream, "nats-stream", "NATS_STREAM", "INGEST", "name of the JetStream job stream")
	b.Duration(&c.JobTTL, "job-status-ttl", "JOB_STATUS_TTL", 7*24*time.Hour, "how long job status records are kept")
	b.Int64(&c.MaxBytes, "queue-max-bytes", "QUEUE_MAX_BYTES", 1<<30, "size limit of the job stream; a full queue refuses new jobs")
	b.Int64(&c.MaxMsgs, "queue-max-msgs", "QUEUE_MAX_MSGS", 1_000_000, "message limit of the job stream; a full queue refuses new jobs")
	b.Duration(&c.AckWait, "ack-wait", "ACK_WAIT", 30*time.Second, "how long a job may go without a lease extension before redelivery")
	b.Int(&c.MaxDeliver, "max-deliver", "MAX_DELIVER", 5, "deliveries of a job before it is dead-lettered")
}

func (c *NATS) validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, fieldErr("nats-url", "NATS_URL", "must not be empty"))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fieldErr("nats-replicas", "NATS_REPLICAS", "must be 1 to 5"))
	}
	if c.Stream == "" {
		errs = append(errs, fieldErr("nats-stream", "NATS_STREAM", "must not be empty"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, fieldErr("nats-tls-cert", "NATS_TLS_CERT", "needs NATS_TLS_KEY too, and the other way round"))
	}
	if c.AckWait < time.Second {
		errs = append(errs, fieldErr("ack-wait", "ACK_WAIT", "must be at least 1s"))
	}
	if c.MaxDeliver < 1 {
		errs = append(errs, fieldErr("max-deliver", "MAX_DELIVER", "must be at least 1"))
	}
	if c.JobTTL < time.Minute {
		errs = append(errs, fieldErr("job-status-ttl", "JOB_STATUS_TTL", "must be at least 1m"))
	}
	return errors.Join(errs...)
}

// Pickle bounds what the pickle loader accepts (hostile-input limits).
type Pickle struct {
	DecodedFactor int // PICKLE_DECODED_FACTOR: decoded size limit = factor x file size + 64 MiB
	MaxDepth      int // PICKLE_MAX_DEPTH: nesting limit
}

func (c *Pickle) bind(b *binder) {
	b.Int(&c.DecodedFactor, "pickle-decoded-factor", "PICKLE_DECODED_FACTOR", 8, "refuse a pickle whose decoded size or conversion work exceeds this multiple of its file size (plus 64 MiB)")
	b.Int(&c.MaxDepth, "pickle-max-depth", "PICKLE_MAX_DEPTH", 256, "refuse a pickle nested deeper than this")
}

func (c *Pickle) validate() error {
	var errs []error
	if c.DecodedFactor < 1 || c.DecodedFactor > 1000 {
		errs = append(errs, fieldErr("pickle-decoded-factor", "PICKLE_DECODED_FACTOR", "must be 1 to 1000"))
	}
	if c.MaxDepth < 16 || c.MaxDepth > 100000 {
		errs = append(errs, fieldErr("pickle-max-depth", "PICKLE_MAX_DEPTH", "must be 16 to 100000"))
	}
	return errors.Join(errs...)
}

// Worker is the worker binary's configuration.
type Worker struct {
	Log
	NATS
	Pickle
	BatchServerAddr    string        // BATCH_SERVER_ADDR
	BatchServerTLSCA   string        // BATCH_SERVER_TLS_CA
	BatchServerTLSCert string        // BATCH_SERVER_TLS_CERT
	BatchServerTLSKey  string        // BATCH_SERVER_TLS_KEY
	DataDir            string        // DATA_DIR
	DomainsFile        string        // DOMAINS_FILE
	Concurrency        int           // WORKER_CONCURRENCY
	RetryBackoffMin    time.Duration // RETRY_BACKOFF_MIN
	RetryBackoffMax    time.Duration // RETRY_BACKOFF_MAX
	ShutdownTimeout    time.Duration // SHUTDOWN_TIMEOUT
	ChunkBytes         int64         // CHUNK_BYTES
	ChunkRecords       int           // CHUNK_RECORDS
	MetricsAddr        string        // METRICS_ADDR
	MaxFileBytes       int64         // MAX_FILE_BYTES
	WorkerName         string        // WORKER_NAME
}

func (c *Worker) bind(b *binder) {
	c.Log.bind(b)
	c.NATS.bind(b)
	c.bindProcessing(b)
	b.String(&c.MetricsAddr, "metrics-addr", "METRICS_ADDR", ":9090", "address of the worker's /healthz, /readyz and /metrics")
}

// bindProcessing binds the settings of job processing, shared by the worker
// and the publisher's dev mode.
func (c *Worker) bindProcessing(b *binder) {
	b.String(&c.BatchServerAddr, "batch-server-addr", "BATCH_SERVER_ADDR", "127.0.0.1:50051", "batch server gRPC address (host:port)")
	b.String(&c.BatchServerTLSCA, "batch-server-tls-ca", "BATCH_SERVER_TLS_CA", "", "CA bundle to verify the batch server's TLS certificate (enables TLS)")
	b.String(&c.BatchServerTLSCert, "batch-server-tls-cert", "BATCH_SERVER_TLS_CERT", "", "client certificate for batch server mTLS")
	b.String(&c.BatchServerTLSKey, "batch-server-tls-key", "BATCH_SERVER_TLS_KEY", "", "client key for batch server mTLS")
	b.String(&c.DataDir, "data-dir", "DATA_DIR", "./data", "directory that job file names are resolved in")
	b.String(&c.DomainsFile, "domains-file", "DOMAINS_FILE", "", "YAML or JSON file with extra domain definitions (optional)")
	b.Int(&c.Concurrency, "concurrency", "WORKER_CONCURRENCY", 2, "jobs run at once per worker process")
	b.Duration(&c.RetryBackoffMin, "retry-backoff-min", "RETRY_BACKOFF_MIN", 2*time.Second, "first retry delay after a transient failure")
	b.Duration(&c.RetryBackoffMax, "retry-backoff-max", "RETRY_BACKOFF_MAX", 2*time.Minute, "largest retry delay")
	b.Duration(&c.ShutdownTimeout, "shutdown-timeout", "SHUTDOWN_TIMEOUT", 30*time.Second, "how long running jobs may finish after SIGTERM")
	b.Int64(&c.ChunkBytes, "chunk-bytes", "CHUNK_BYTES", 1<<20, "target encoded size of one chunk")
	b.Int(&c.ChunkRecords, "chunk-records", "CHUNK_RECORDS", 10000, "most records in one chunk")
	b.Int64(&c.MaxFileBytes, "max-file-bytes", "MAX_FILE_BYTES", 4<<30, "largest pickle file a worker loads")
	b.String(&c.WorkerName, "worker-name", "WORKER_NAME", "", "name recorded in job status (default: hostname-pid)")
	c.Pickle.bind(b)
}

func (c *Worker) validate() error {
	errs := []error{c.Log.validate(), c.NATS.validate(), c.validateProcessing()}
	return errors.Join(errs...)
}

func (c *Worker) validateProcessing() error {
	var errs []error
	if c.BatchServerAddr == "" {
		errs = append(errs, fieldErr("batch-server-addr", "BATCH_SERVER_ADDR", "must not be empty"))
	}
	if (c.BatchServerTLSCert == "") != (c.BatchServerTLSKey == "") {
		errs = append(errs, fieldErr("batch-server-tls-cert", "BATCH_SERVER_TLS_CERT", "needs BATCH_SERVER_TLS_KEY too, and the other way round"))
	}
	if c.DataDir == "" {
		errs = append(errs, fieldErr("data-dir", "DATA_DIR", "must not be empty"))
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		errs = append(errs, fieldErr("concurrency", "WORKER_CONCURRENCY", "must be 1 to 256"))
	}
	if c.RetryBackoffMin <= 0 || c.RetryBackoffMax < c.RetryBackoffMin {
		errs = append(errs, fieldErr("retry-backoff-min", "RETRY_BACKOFF_MIN", "must be positive and not above RETRY_BACKOFF_MAX"))
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, fieldErr("shutdown-timeout", "SHUTDOWN_TIMEOUT", "must not be negative"))
	}
	if c.ChunkBytes < 4<<10 || c.ChunkBytes > 64<<20 {
		errs = append(errs, fieldErr("chunk-bytes", "CHUNK_BYTES", "must be 4KiB to 64MiB"))
	}
	if c.ChunkRecords < 1 {
		errs = append(errs, fieldErr("chunk-records", "CHUNK_RECORDS", "must be at least 1"))
	}
	if c.MaxFileBytes < 1 {
		errs = append(errs, fieldErr("max-file-bytes", "MAX_FILE_BYTES", "must be positive"))
	}
	errs = append(errs, c.Pickle.validate())
	return errors.Join(errs...)
}

// LoadWorker parses the worker's configuration from args and getenv.
func LoadWorker(fs *flag.FlagSet, args []string, getenv func(string) string) (Worker, error) {
	var c Worker
	b := newBinder(fs, getenv)
	c.bind(b)
	if err := b.parse(args); err != nil {
		return c, err
	}
	return c, c.validate()
}

// Publisher is the publisher binary's configuration (serve and the CLI).
type Publisher struct {
	Log
	NATS
	HTTPAddr          string   // HTTP_ADDR
	DataDir           string   // DATA_DIR: checked for existence when visible
	DomainsFile       string   // DOMAINS_FILE
	APIToken          string   // API_TOKEN
	AllowedExtensions []string // ALLOWED_EXTENSIONS
	MaxUploadBytes    int64    // MAX_UPLOAD_BYTES
	allowedExt        string
}

func (c *Publisher) bind(b *binder) {
	c.Log.bind(b)
	c.NATS.bind(b)
	c.bindAPI(b)
	b.String(&c.DataDir, "data-dir", "DATA_DIR", "", "data directory, when the publisher can see it: missing files are refused early (optional)")
}

func (c *Publisher) bindAPI(b *binder) {
	b.String(&c.HTTPAddr, "http-addr", "HTTP_ADDR", ":8000", "address of the HTTP API and dashboard")
	b.String(&c.DomainsFile, "domains-file", "DOMAINS_FILE", "", "YAML or JSON file with extra domain definitions (optional)")
	b.String(&c.APIToken, "api-token", "API_TOKEN", "", "when set, every route but the health checks needs 'Authorization: Bearer <token>'")
	b.String(&c.allowedExt, "allowed-extensions", "ALLOWED_EXTENSIONS", ".pkl,.pickle", "comma-separated file extensions a job may name")
	b.Int64(&c.MaxUploadBytes, "max-upload-bytes", "MAX_UPLOAD_BYTES", 4<<30, "largest file PUT /files accepts")
}

func (c *Publisher) finish() error {
	c.AllowedExtensions = splitList(c.allowedExt)
	errs := []error{c.Log.validate(), c.NATS.validate()}
	if len(c.AllowedExtensions) == 0 {
		errs = append(errs, fieldErr("allowed-extensions", "ALLOWED_EXTENSIONS", "must list at least one extension"))
	}
	if c.MaxUploadBytes < 1 {
		errs = append(errs, fieldErr("max-upload-bytes", "MAX_UPLOAD_BYTES", "must be positive"))
	}
	return errors.Join(errs...)
}

// LoadPublisher parses the publisher's configuration from args and getenv.
func LoadPublisher(fs *flag.FlagSet, args []string, getenv func(string) string) (Publisher, error) {
	var c Publisher
	b := newBinder(fs, getenv)
	c.bind(b)
	if err := b.parse(args); err != nil {
		return c, err
	}
	return c, c.finish()
}

// Dev is the configuration of `publisher dev`, the one-process local stack:
// the publisher's API plus embedded NATS, batch server and workers.
type Dev struct {
	Publisher
	Worker      Worker
	NATSPort    int    // DEV_NATS_PORT
	NATSDir     string // DEV_NATS_DIR
	BatchOutDir string // DEV_BATCH_OUT_DIR
	Workers     int    // DEV_WORKERS
	BatchServer string // DEV_BATCH_SERVER: external batch server (empty: in-process)
}

func (c *Dev) bind(b *binder) {
	c.Publisher.Log.bind(b)
	c.Publisher.NATS.bind(b)
	c.Publisher.bindAPI(b)
	b.String(&c.Publisher.DataDir, "data-dir", "DATA_DIR", "", "data directory (default: the shipped sample folder)")
	b.Int(&c.Worker.Concurrency, "concurrency", "WORKER_CONCURRENCY", 2, "jobs run at once per worker")
	b.Duration(&c.Worker.RetryBackoffMin, "retry-backoff-min", "RETRY_BACKOFF_MIN", 2*time.Second, "first retry delay after a transient failure")
	b.Duration(&c.Worker.RetryBackoffMax, "retry-backoff-max", "RETRY_BACKOFF_MAX", 2*time.Minute, "largest retry delay")
	b.Duration(&c.Worker.ShutdownTimeout, "shutdown-timeout", "SHUTDOWN_TIMEOUT", 30*time.Second, "how long running jobs may finish on Ctrl-C")
	b.Int64(&c.Worker.ChunkBytes, "chunk-bytes", "CHUNK_BYTES", 1<<20, "target encoded size of one chunk")
	b.Int(&c.Worker.ChunkRecords, "chunk-records", "CHUNK_RECORDS", 10000, "most records in one chunk")
	b.Int64(&c.Worker.MaxFileBytes, "max-file-bytes", "MAX_FILE_BYTES", 4<<30, "largest pickle file a worker loads")
	c.Worker.Pickle.bind(b)
	b.Int(&c.NATSPort, "nats-port", "DEV_NATS_PORT", 4222, "port of the embedded NATS server on 127.0.0.1 (-1: any free port)")
	b.String(&c.NATSDir, "nats-dir", "DEV_NATS_DIR", ".data/nats", "JetStream storage directory of the embedded NATS server")
	b.String(&c.BatchOutDir, "batch-out", "DEV_BATCH_OUT_DIR", ".data/batch", "output directory of the in-process batch server")
	b.Int(&c.Workers, "workers", "DEV_WORKERS", 2, "workers started in-process")
	b.String(&c.BatchServer, "batch-server", "DEV_BATCH_SERVER", "", "use this external batch server instead of the in-process one")
}

// LoadDev parses `publisher dev`'s configuration from args and getenv.
func LoadDev(fs *flag.FlagSet, args []string, getenv func(string) string) (Dev, error) {
	var c Dev
	b := newBinder(fs, getenv)
	c.bind(b)
	if err := b.parse(args); err != nil {
		return c, err
	}
	if err := c.Publisher.finish(); err != nil {
		return c, err
	}
	c.Worker.Log = c.Publisher.Log
	c.Worker.NATS = c.Publisher.NATS
	c.Worker.DataDir = c.Publisher.DataDir
	c.Worker.DomainsFile = c.Publisher.DomainsFile
	c.Worker.BatchServerAddr = "in-process"
	if c.BatchServer != "" {
		c.Worker.BatchServerAddr = c.BatchServer
	}
	if c.Worker.DataDir == "" {
		c.Worker.DataDir = "-"
	}
	var errs []error
	if err := c.Worker.validateProcessing(); err != nil {
		errs = append(errs, err)
	}
	if c.Workers < 0 || c.Workers > 64 {
		errs = append(errs, fieldErr("workers", "DEV_WORKERS", "must be 0 to 64"))
	}
	if c.NATSPort < -1 || c.NATSPort > 65535 {
		errs = append(errs, fieldErr("nats-port", "DEV_NATS_PORT", "must be a port number (-1: any free port)"))
	}
	return c, errors.Join(errs...)
}

// BatchServer is the reference batch server's configuration.
type BatchServer struct {
	Log
	Listen         string        // BATCH_LISTEN_ADDR
	OutDir         string        // BATCH_OUT_DIR
	MaxRecvMsgSize int64         // BATCH_MAX_RECV_MSG_BYTES
	FailFirst      int           // BATCH_FAIL_FIRST
	FailRate       float64       // BATCH_FAIL_RATE
	FailSeed       int64         // BATCH_FAIL_SEED
	ChunkDelay     time.Duration // BATCH_CHUNK_DELAY
	Discard        bool          // BATCH_DISCARD
	TLSCert        string        // BATCH_TLS_CERT
	TLSKey         string        // BATCH_TLS_KEY
	TLSClientCA    string        // BATCH_TLS_CLIENT_CA

	MaxConcurrentStreams int           // BATCH_MAX_CONCURRENT_STREAMS
	Contract             string        // BATCH_CONTRACT
	StagingMaxBytes      int64         // BATCH_STAGING_MAX_BYTES
	StagingTTL           time.Duration // BATCH_STAGING_TTL
	StagingSyncBytes     int64         // BATCH_STAGING_SYNC_BYTES
	StagingSyncInterval  time.Duration // BATCH_STAGING_SYNC_INTERVAL
}

func (c *BatchServer) bind(b *binder) {
	c.Log.bind(b)
	b.String(&c.Listen, "listen", "BATCH_LISTEN_ADDR", "127.0.0.1:50051", "gRPC listen address")
	b.String(&c.OutDir, "out", "BATCH_OUT_DIR", "./batch-out", "directory for committed JSONL files and the ledger")
	b.Int64(&c.MaxRecvMsgSize, "max-recv-msg-bytes", "BATCH_MAX_RECV_MSG_BYTES", 16<<20, "largest gRPC message accepted")
	b.Int(&c.FailFirst, "fail-first", "BATCH_FAIL_FIRST", 0, "fault injection: answer UNAVAILABLE to the first N streams")
	b.Float(&c.FailRate, "fail-rate", "BATCH_FAIL_RATE", 0, "fault injection: answer UNAVAILABLE to this fraction of streams (0 to 1)")
	b.Int64(&c.FailSeed, "fail-seed", "BATCH_FAIL_SEED", 1, "fault injection: seed of --fail-rate's random choices (same seed, same choices)")
	b.Duration(&c.ChunkDelay, "chunk-delay", "BATCH_CHUNK_DELAY", 0, "fault injection: sleep this long after each chunk received")
	b.Bool(&c.Discard, "discard", "BATCH_DISCARD", false, "validate and keep the ledger but write no JSONL (benchmarks)")
	b.String(&c.TLSCert, "tls-cert", "BATCH_TLS_CERT", "", "server certificate (enables TLS)")
	b.String(&c.TLSKey, "tls-key", "BATCH_TLS_KEY", "", "server key")
	b.String(&c.TLSClientCA, "tls-client-ca", "BATCH_TLS_CLIENT_CA", "", "CA bundle that client certificates must chain to (enables mTLS)")
	b.Int(&c.MaxConcurrentStreams, "max-concurrent-streams", "BATCH_MAX_CONCURRENT_STREAMS", 100, "most streams open at once on one client connection (more wait)")
	b.String(&c.Contract, "contract", "BATCH_CONTRACT", "v2", "wire contract served: v2, or v1 to emulate a v1 server (no GetIngestState, no resume, no staging kept) in tests")
	b.Int64(&c.StagingMaxBytes, "staging-max-bytes", "BATCH_STAGING_MAX_BYTES", 64<<30, "most bytes of staged chunks (JSONL and manifests) on disk; a stream past it is answered RESOURCE_EXHAUSTED")
	b.Duration(&c.StagingTTL, "staging-ttl", "BATCH_STAGING_TTL", 24*time.Hour, "staged chunks no stream resumes are removed this long after their last write")
	b.Int64(&c.StagingSyncBytes, "staging-sync-bytes", "BATCH_STAGING_SYNC_BYTES", 8<<20, "fsync staged chunks once this many bytes were written since the last fsync (1: after every chunk)")
	b.Duration(&c.StagingSyncInterval, "staging-sync-interval", "BATCH_STAGING_SYNC_INTERVAL", 500*time.Millisecond, "fsync staged chunks at the first chunk this long after the last fsync")
}

// LoadBatchServer parses the batch server's configuration from args and
// getenv.
func LoadBatchServer(fs *flag.FlagSet, args []string, getenv func(string) string) (BatchServer, error) {
	var c BatchServer
	b := newBinder(fs, getenv)
	c.bind(b)
	if err := b.parse(args); err != nil {
		return c, err
	}
	errs := []error{c.Log.validate()}
	if c.Listen == "" {
		errs = append(errs, fieldErr("listen", "BATCH_LISTEN_ADDR", "must not be empty"))
	}
	if c.OutDir == "" {
		errs = append(errs, fieldErr("out", "BATCH_OUT_DIR", "must not be empty"))
	}
	if c.MaxRecvMsgSize < 1<<20 {
		errs = append(errs, fieldErr("max-recv-msg-bytes", "BATCH_MAX_RECV_MSG_BYTES", "must be at least 1MiB"))
	}
	if c.FailFirst < 0 {
		errs = append(errs, fieldErr("fail-first", "BATCH_FAIL_FIRST", "must not be negative"))
	}
	if c.FailRate < 0 || c.FailRate > 1 {
		errs = append(errs, fieldErr("fail-rate", "BATCH_FAIL_RATE", "must be 0 to 1"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, fieldErr("tls-cert", "BATCH_TLS_CERT", "needs BATCH_TLS_KEY too, and the other way round"))
	}
	if c.MaxConcurrentStreams < 1 || c.MaxConcurrentStreams > 1<<20 {
		errs = append(errs, fieldErr("max-concurrent-streams", "BATCH_MAX_CONCURRENT_STREAMS", "must be 1 to 1048576"))
	}
	if c.Contract != "v1" && c.Contract != "v2" {
		errs = append(errs, fieldErr("contract", "BATCH_CONTRACT", "must be v1 or v2"))
	}
	if c.StagingMaxBytes < 1<<20 {
		errs = append(errs, fieldErr("staging-max-bytes", "BATCH_STAGING_MAX_BYTES", "must be at least 1MiB"))
	}
	if c.StagingTTL <= 0 {
		errs = append(errs, fieldErr("staging-ttl", "BATCH_STAGING_TTL", "must be positive"))
	}
	if c.StagingSyncBytes < 1 {
		errs = append(errs, fieldErr("staging-sync-bytes", "BATCH_STAGING_SYNC_BYTES", "must be at least 1"))
	}
	if c.StagingSyncInterval <= 0 {
		errs = append(errs, fieldErr("staging-sync-interval", "BATCH_STAGING_SYNC_INTERVAL", "must be positive"))
	}
	return c, errors.Join(errs...)
}
