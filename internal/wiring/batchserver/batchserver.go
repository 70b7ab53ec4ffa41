// Package batchserver is the reference batch server's composition root: its
// settings ([Config], [Load]), their mapping onto the server's
// configuration (loading the TLS files they name), and [Run], which serves
// until its context ends; and its pull subcommand's ([PullConfig],
// [LoadPull], [RunPull], [PullErrorLine]), which pulls one dataset from a
// worker into the output directory.
package batchserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"

	server "github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/buildinfo"
	"github.com/embedstream/embedstream/internal/config"
)

// Config is the reference batch server's configuration.
type Config struct {
	config.Log
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

// defaultOutDir is where the binary commits unless told otherwise
// (BATCH_OUT_DIR).
const defaultOutDir = "./batch-out"

func (c *Config) bind(b *config.Binder) {
	c.Log.Bind(b)
	b.String(&c.Listen, "listen", "BATCH_LISTEN_ADDR", server.DefaultListenAddr, "gRPC listen address")
	b.String(&c.OutDir, "out", "BATCH_OUT_DIR", defaultOutDir, "directory for committed JSONL files and the ledger")
	b.Int64(&c.MaxRecvMsgSize, "max-recv-msg-bytes", "BATCH_MAX_RECV_MSG_BYTES", server.DefaultMaxRecvMsgSize, "largest gRPC message accepted")
	b.Int(&c.FailFirst, "fail-first", "BATCH_FAIL_FIRST", 0, "fault injection: answer UNAVAILABLE to the first N streams")
	b.Float(&c.FailRate, "fail-rate", "BATCH_FAIL_RATE", 0, "fault injection: answer UNAVAILABLE to this fraction of streams (0 to 1)")
	b.Int64(&c.FailSeed, "fail-seed", "BATCH_FAIL_SEED", 1, "fault injection: seed of --fail-rate's random choices (same seed, same choices)")
	b.Duration(&c.ChunkDelay, "chunk-delay", "BATCH_CHUNK_DELAY", 0, "fault injection: sleep this long after each chunk received")
	b.Bool(&c.Discard, "discard", "BATCH_DISCARD", false, "validate and keep the ledger but write no JSONL (benchmarks)")
	b.String(&c.TLSCert, "tls-cert", "BATCH_TLS_CERT", "", "server certificate (enables TLS)")
	b.String(&c.TLSKey, "tls-key", "BATCH_TLS_KEY", "", "server key")
	b.String(&c.TLSClientCA, "tls-client-ca", "BATCH_TLS_CLIENT_CA", "", "CA bundle that client certificates must chain to (enables mTLS)")
	b.Int(&c.MaxConcurrentStreams, "max-concurrent-streams", "BATCH_MAX_CONCURRENT_STREAMS", server.DefaultMaxConcurrentStreams, "most streams open at once on one client connection (more wait)")
	b.String(&c.Contract, "contract", "BATCH_CONTRACT", string(server.ContractV2), "wire contract served: v2, or v1 to emulate a v1 server (no GetIngestState, no resume, no staging kept) in tests")
	b.Int64(&c.StagingMaxBytes, "staging-max-bytes", "BATCH_STAGING_MAX_BYTES", server.DefaultStagingMaxBytes, "most bytes of staged chunks (JSONL and manifests) on disk; a stream past it is answered RESOURCE_EXHAUSTED")
	b.Duration(&c.StagingTTL, "staging-ttl", "BATCH_STAGING_TTL", server.DefaultStagingTTL, "staged chunks no stream resumes are removed this long after their last write")
	b.Int64(&c.StagingSyncBytes, "staging-sync-bytes", "BATCH_STAGING_SYNC_BYTES", server.DefaultStagingSyncBytes, "fsync staged chunks once this many bytes were written since the last fsync (1: after every chunk)")
	b.Duration(&c.StagingSyncInterval, "staging-sync-interval", "BATCH_STAGING_SYNC_INTERVAL", server.DefaultStagingSyncInterval, "fsync staged chunks at the first chunk this long after the last fsync")
}

func (c *Config) validate() error {
	errs := []error{c.Log.Validate()}
	if c.Listen == "" {
		errs = append(errs, config.FieldError("listen", "BATCH_LISTEN_ADDR", "must not be empty"))
	}
	if c.OutDir == "" {
		errs = append(errs, config.FieldError("out", "BATCH_OUT_DIR", "must not be empty"))
	}
	if c.MaxRecvMsgSize < 1<<20 {
		errs = append(errs, config.FieldError("max-recv-msg-bytes", "BATCH_MAX_RECV_MSG_BYTES", "must be at least 1MiB"))
	}
	if c.FailFirst < 0 {
		errs = append(errs, config.FieldError("fail-first", "BATCH_FAIL_FIRST", "must not be negative"))
	}
	if c.FailRate < 0 || c.FailRate > 1 {
		errs = append(errs, config.FieldError("fail-rate", "BATCH_FAIL_RATE", "must be 0 to 1"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, config.FieldError("tls-cert", "BATCH_TLS_CERT", "needs BATCH_TLS_KEY too, and the other way round"))
	}
	if c.MaxConcurrentStreams < 1 || c.MaxConcurrentStreams > 1<<20 {
		errs = append(errs, config.FieldError("max-concurrent-streams", "BATCH_MAX_CONCURRENT_STREAMS", "must be 1 to 1048576"))
	}
	if c.Contract != string(server.ContractV1) && c.Contract != string(server.ContractV2) {
		errs = append(errs, config.FieldError("contract", "BATCH_CONTRACT", "must be v1 or v2"))
	}
	if c.StagingMaxBytes < 1<<20 {
		errs = append(errs, config.FieldError("staging-max-bytes", "BATCH_STAGING_MAX_BYTES", "must be at least 1MiB"))
	}
	if c.StagingTTL <= 0 {
		errs = append(errs, config.FieldError("staging-ttl", "BATCH_STAGING_TTL", "must be positive"))
	}
	if c.StagingSyncBytes < 1 {
		errs = append(errs, config.FieldError("staging-sync-bytes", "BATCH_STAGING_SYNC_BYTES", "must be at least 1"))
	}
	if c.StagingSyncInterval <= 0 {
		errs = append(errs, config.FieldError("staging-sync-interval", "BATCH_STAGING_SYNC_INTERVAL", "must be positive"))
	}
	return errors.Join(errs...)
}

// Load parses the batch server's configuration from args and getenv,
// binding its settings on fs (which may hold other flags, e.g. --version).
// It returns flag.ErrHelp for --help, and errors naming the flag and the
// variable of every bad setting.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	var c Config
	b := config.NewBinder(fs, getenv)
	c.bind(b)
	if err := b.Parse(args); err != nil {
		return c, err
	}
	return c, c.validate()
}

// Settings lists every setting the batch server reads, sorted by variable.
func Settings() []config.Setting {
	var c Config
	b := config.NewBinder(flag.NewFlagSet("batchserver", flag.ContinueOnError), nil)
	c.bind(b)
	return b.Settings()
}

// serverConfig maps the settings onto the server's configuration, loading
// the TLS files they name.
func serverConfig(c Config) (server.Config, error) {
	tc, err := server.LoadTLS(c.TLSCert, c.TLSKey, c.TLSClientCA)
	if err != nil {
		return server.Config{}, err
	}
	return server.Config{
		OutDir:         c.OutDir,
		MaxRecvMsgSize: int(c.MaxRecvMsgSize),
		Discard:        c.Discard,
		FailFirst:      c.FailFirst,
		FailRate:       c.FailRate,
		FailSeed:       uint64(c.FailSeed),
		ChunkDelay:     c.ChunkDelay,
		TLS:            tc,

		MaxConcurrentStreams: uint32(c.MaxConcurrentStreams),
		Contract:             server.Contract(c.Contract),
		StagingMaxBytes:      c.StagingMaxBytes,
		StagingTTL:           c.StagingTTL,
		StagingSyncBytes:     c.StagingSyncBytes,
		StagingSyncInterval:  c.StagingSyncInterval,
	}, nil
}

// Run serves on c.Listen until ctx ends, then stops gracefully.
func Run(ctx context.Context, c Config, log zerolog.Logger) error {
	log.Info().Str("version", buildinfo.String("batchserver")).Msg("starting")
	scfg, err := serverConfig(c)
	if err != nil {
		return err
	}
	srv, err := server.New(scfg, log)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), srv.Close())
	}
	return errors.Join(srv.Serve(ctx, lis), srv.Close())
}
