package worker

import (
	"errors"
	"flag"
	"time"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/chunk"
	"github.com/embedstream/embedstream/internal/config"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/pull"
	"github.com/embedstream/embedstream/internal/wiring"
)

// Config is the worker binary's configuration.
type Config struct {
	config.Log
	wiring.NATS
	wiring.Pickle
	BatchServerAddr    string        // BATCH_SERVER_ADDR
	BatchServerTLSCA   string        // BATCH_SERVER_TLS_CA
	BatchServerTLSCert string        // BATCH_SERVER_TLS_CERT
	BatchServerTLSKey  string        // BATCH_SERVER_TLS_KEY
	DataDir            string        // DATA_DIR
	DomainsFile        string        // DOMAINS_FILE
	Concurrency        int           // WORKER_CONCURRENCY
	RetryBackoffMin    time.Duration // RETRY_BACKOFF_MIN
	RetryBackoffMax    time.Duration // RETRY_BACKOFF_MAX
	RetryBudget        time.Duration // RETRY_BUDGET
	ShutdownTimeout    time.Duration // SHUTDOWN_TIMEOUT
	ChunkBytes         int64         // CHUNK_BYTES
	ChunkRecords       int           // CHUNK_RECORDS
	MetricsAddr        string        // METRICS_ADDR
	MaxFileBytes       int64         // MAX_FILE_BYTES
	WorkerName         string        // WORKER_NAME
	MemoryLimit        string        // MEMORY_LIMIT: auto, none or a byte size (see [Memory])
	ScratchDir         string        // SCRATCH_DIR

	// Pull mode (internal/pull): off while PullAddr is empty.
	PullAddr        string // PULL_ADDR
	PullConcurrency int    // PULL_CONCURRENCY
	PullToken       string // PULL_TOKEN
	PullTLSCert     string // PULL_TLS_CERT
	PullTLSKey      string // PULL_TLS_KEY
	PullTLSClientCA string // PULL_TLS_CLIENT_CA
}

// defaultDataDir is where the worker resolves job file names unless told
// otherwise (DATA_DIR).
const defaultDataDir = "./data"

func (c *Config) bind(b *config.Binder) {
	c.Log.Bind(b)
	c.NATS.Bind(b)
	b.String(&c.BatchServerAddr, "batch-server-addr", "BATCH_SERVER_ADDR", batchclient.DefaultAddr, "batch server gRPC address (host:port)")
	b.String(&c.BatchServerTLSCA, "batch-server-tls-ca", "BATCH_SERVER_TLS_CA", "", "CA bundle to verify the batch server's TLS certificate (enables TLS)")
	b.String(&c.BatchServerTLSCert, "batch-server-tls-cert", "BATCH_SERVER_TLS_CERT", "", "client certificate for batch server mTLS")
	b.String(&c.BatchServerTLSKey, "batch-server-tls-key", "BATCH_SERVER_TLS_KEY", "", "client key for batch server mTLS")
	b.String(&c.DataDir, "data-dir", "DATA_DIR", defaultDataDir, "directory that job file names are resolved in")
	b.String(&c.DomainsFile, "domains-file", "DOMAINS_FILE", "", "YAML or JSON file with extra domain definitions (optional)")
	b.Int(&c.Concurrency, "concurrency", "WORKER_CONCURRENCY", ingest.DefaultConcurrency, "jobs run at once per worker process")
	b.Duration(&c.RetryBackoffMin, "retry-backoff-min", "RETRY_BACKOFF_MIN", ingest.DefaultBackoffMin, "first retry delay after a transient failure")
	b.Duration(&c.RetryBackoffMax, "retry-backoff-max", "RETRY_BACKOFF_MAX", ingest.DefaultBackoffMax, "largest retry delay")
	c.BindRetryBudget(b)
	b.Duration(&c.ShutdownTimeout, "shutdown-timeout", "SHUTDOWN_TIMEOUT", ingest.DefaultShutdownTimeout, "how long running jobs may finish after SIGTERM")
	b.Int64(&c.ChunkBytes, "chunk-bytes", "CHUNK_BYTES", chunk.DefaultBytes, "target encoded size of one chunk")
	b.Int(&c.ChunkRecords, "chunk-records", "CHUNK_RECORDS", chunk.DefaultRecords, "most records in one chunk")
	b.Int64(&c.MaxFileBytes, "max-file-bytes", "MAX_FILE_BYTES", dataset.DefaultMaxFileBytes, "largest pickle file a worker loads")
	b.String(&c.WorkerName, "worker-name", "WORKER_NAME", "", "name recorded in job status (default: hostname-pid)")
	b.String(&c.MemoryLimit, "memory-limit", "MEMORY_LIMIT", MemoryAuto,
		"the worker's memory: auto (its memory cgroup's limit), none (unbounded), or a byte size; each job gets (limit - 64MiB) / (WORKER_CONCURRENCY + PULL_CONCURRENCY if pulls are on) to decode its file, larger ones are read in windows")
	b.String(&c.ScratchDir, "scratch-dir", "SCRATCH_DIR", "", "directory (on a disk, not a tmpfs) where objects and the content of compressed files are written to be mapped (default: the OS temp directory)")
	c.Pickle.Bind(b)
	b.String(&c.MetricsAddr, "metrics-addr", "METRICS_ADDR", ingest.DefaultMetricsAddr, "address of the worker's /healthz, /readyz and /metrics")
	c.bindPull(b)
}

// bindPull binds the pull mode's settings.
func (c *Config) bindPull(b *config.Binder) {
	b.String(&c.PullAddr, "pull-addr", "PULL_ADDR", "", "listen address of the pull server (DatasetService, gRPC) that batch servers call; empty: pull mode off")
	b.Int(&c.PullConcurrency, "pull-concurrency", "PULL_CONCURRENCY", pull.DefaultConcurrency, "pulls served at once per worker process; more are refused with RESOURCE_EXHAUSTED")
	b.String(&c.PullToken, "pull-token", "PULL_TOKEN", "", "bearer token every pull must carry (authorization: Bearer <token>); empty: none")
	b.String(&c.PullTLSCert, "pull-tls-cert", "PULL_TLS_CERT", "", "pull server certificate (enables TLS)")
	b.String(&c.PullTLSKey, "pull-tls-key", "PULL_TLS_KEY", "", "pull server key")
	b.String(&c.PullTLSClientCA, "pull-tls-client-ca", "PULL_TLS_CLIENT_CA", "", "CA bundle that pulling clients' certificates must chain to (enables mTLS)")
}

// BindRetryBudget binds RETRY_BUDGET; the local stack, which binds the
// worker's processing settings itself, binds it with it.
func (c *Config) BindRetryBudget(b *config.Binder) {
	b.Duration(&c.RetryBudget, "retry-budget", "RETRY_BUDGET", ingest.DefaultRetryBudget,
		"how long a job's transient failures are retried, from the first of a run, before it is dead-lettered")
}

func (c *Config) validate() error {
	return errors.Join(c.Log.Validate(), c.NATS.Validate(), c.ValidateProcessing(), c.validatePull(), c.validateMemory())
}

// validatePull reports every pull setting out of its range.
func (c *Config) validatePull() error {
	var errs []error
	if c.PullConcurrency < 1 || c.PullConcurrency > 256 {
		errs = append(errs, config.FieldError("pull-concurrency", "PULL_CONCURRENCY", "must be 1 to 256"))
	}
	if (c.PullTLSCert == "") != (c.PullTLSKey == "") {
		errs = append(errs, config.FieldError("pull-tls-cert", "PULL_TLS_CERT", "needs PULL_TLS_KEY too, and the other way round"))
	}
	if c.PullTLSClientCA != "" && c.PullTLSCert == "" {
		errs = append(errs, config.FieldError("pull-tls-client-ca", "PULL_TLS_CLIENT_CA", "needs PULL_TLS_CERT and PULL_TLS_KEY (mTLS is TLS)"))
	}
	if c.PullAddr == "" && (c.PullToken != "" || c.PullTLSCert != "") {
		errs = append(errs, config.FieldError("pull-addr", "PULL_ADDR", "is empty (pull mode off) but PULL_TOKEN or PULL_TLS_* are set"))
	}
	return errors.Join(errs...)
}

// ValidateProcessing reports every job-processing setting out of its range
// (batch server, data directory, concurrency, backoff, shutdown, chunks,
// file and pickle limits), joined; the local stack, which binds these
// settings itself, validates them with it.
func (c *Config) ValidateProcessing() error {
	var errs []error
	if c.BatchServerAddr == "" {
		errs = append(errs, config.FieldError("batch-server-addr", "BATCH_SERVER_ADDR", "must not be empty"))
	}
	if (c.BatchServerTLSCert == "") != (c.BatchServerTLSKey == "") {
		errs = append(errs, config.FieldError("batch-server-tls-cert", "BATCH_SERVER_TLS_CERT", "needs BATCH_SERVER_TLS_KEY too, and the other way round"))
	}
	if c.DataDir == "" {
		errs = append(errs, config.FieldError("data-dir", "DATA_DIR", "must not be empty"))
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		errs = append(errs, config.FieldError("concurrency", "WORKER_CONCURRENCY", "must be 1 to 256"))
	}
	if c.RetryBackoffMin <= 0 || c.RetryBackoffMax < c.RetryBackoffMin {
		errs = append(errs, config.FieldError("retry-backoff-min", "RETRY_BACKOFF_MIN", "must be positive and not above RETRY_BACKOFF_MAX"))
	}
	if c.RetryBudget <= 0 {
		errs = append(errs, config.FieldError("retry-budget", "RETRY_BUDGET", "must be positive"))
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, config.FieldError("shutdown-timeout", "SHUTDOWN_TIMEOUT", "must not be negative"))
	}
	if c.ChunkBytes < 4<<10 || c.ChunkBytes > 64<<20 {
		errs = append(errs, config.FieldError("chunk-bytes", "CHUNK_BYTES", "must be 4KiB to 64MiB"))
	}
	if c.ChunkRecords < 1 {
		errs = append(errs, config.FieldError("chunk-records", "CHUNK_RECORDS", "must be at least 1"))
	}
	if c.MaxFileBytes < 1 {
		errs = append(errs, config.FieldError("max-file-bytes", "MAX_FILE_BYTES", "must be positive"))
	}
	errs = append(errs, c.Pickle.Validate())
	return errors.Join(errs...)
}

// Load parses the worker's configuration from args and getenv, binding its
// settings on fs (which may hold other flags, e.g. --version). It returns
// flag.ErrHelp for --help, and errors naming the flag and the variable of
// every bad setting.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	var c Config
	b := config.NewBinder(fs, getenv)
	c.bind(b)
	if err := b.Parse(args); err != nil {
		return c, err
	}
	return c, c.validate()
}

// Settings lists every setting the worker reads, sorted by variable.
func Settings() []config.Setting {
	var c Config
	b := config.NewBinder(flag.NewFlagSet("worker", flag.ContinueOnError), nil)
	c.bind(b)
	return b.Settings()
}
