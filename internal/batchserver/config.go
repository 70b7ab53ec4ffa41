package batchserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// Defaults applied by [New] to zero Config fields.
const (
	DefaultMaxRecvMsgSize = 16 << 20
	DefaultStopTimeout    = 8 * time.Second
	// DefaultMaxConcurrentStreams is HTTP/2's recommended minimum: ample for
	// workers (one stream per running job), and a bound on what one
	// connection holds open (each stream may buffer a 1 MiB write buffer and
	// a message of up to MaxRecvMsgSize).
	DefaultMaxConcurrentStreams = 100
	// DefaultStagingMaxBytes bounds the staging area: room for a few
	// interrupted multi-GB ingests, far from most disks' size.
	DefaultStagingMaxBytes = 64 << 30
	// DefaultStagingTTL is how long staged chunks wait for a resume after
	// their last write.
	DefaultStagingTTL = 24 * time.Hour
	// DefaultStagingSyncBytes and DefaultStagingSyncInterval group the
	// staging's fsyncs: a boundary is synced once this many bytes were
	// written since the last one, or this long after it, whichever comes
	// first (checked after each chunk).
	DefaultStagingSyncBytes    = 8 << 20
	DefaultStagingSyncInterval = 500 * time.Millisecond
)

// Contract is the version of the wire contract a server speaks.
type Contract string

// The contract versions.
const (
	// ContractV2 stages chunks durably, answers GetIngestState and resumes
	// streams (the default).
	ContractV2 Contract = "v2"
	// ContractV1 emulates a server built from the v1 contract, for
	// compatibility tests: GetIngestState is not served (UNIMPLEMENTED),
	// the v2 metadata fields are ignored as unknown fields (so a resumed
	// stream is a sequence gap: INVALID_ARGUMENT), and nothing of a stream
	// that does not commit is kept.
	ContractV1 Contract = "v1"
)

// DefaultListenAddr is the address the batch server binary listens on when
// not told otherwise (BATCH_LISTEN_ADDR), and its healthcheck's default
// target. [Server.Serve] takes a listener: the address is the caller's.
const DefaultListenAddr = "127.0.0.1:50051"

// Config configures a [Server]. Only OutDir is required.
type Config struct {
	// OutDir holds the committed files (<OutDir>/<domain>/<ingest_id>.jsonl),
	// the ledger (<OutDir>/ledger.jsonl) and temporary files
	// (<OutDir>/.tmp). It is created if missing.
	OutDir string
	// MaxRecvMsgSize is the largest gRPC message accepted, in bytes
	// (default [DefaultMaxRecvMsgSize]). A larger message fails the stream
	// with RESOURCE_EXHAUSTED.
	MaxRecvMsgSize int
	// Discard validates every stream and records commits in the ledger, but
	// writes no JSONL (benchmarks).
	Discard bool
	// FailFirst answers UNAVAILABLE to the first FailFirst streams, before
	// reading anything from them (fault injection).
	FailFirst int
	// FailRate answers UNAVAILABLE to this fraction (0 to 1) of the streams
	// after the first FailFirst, chosen by a pseudo-random generator seeded
	// with FailSeed, so a run is reproducible (fault injection).
	FailRate float64
	// FailSeed seeds FailRate's generator.
	FailSeed uint64
	// ChunkDelay is slept after each chunk is received (fault injection: a
	// slow server). The sleep ends early when the stream is cancelled.
	ChunkDelay time.Duration
	// StopTimeout bounds a graceful stop in [Server.Serve]: streams still
	// running after it are cancelled and commit nothing (default
	// [DefaultStopTimeout]).
	StopTimeout time.Duration
	// MaxConcurrentStreams bounds the streams (and unary calls) open at once
	// on one client connection (default [DefaultMaxConcurrentStreams]);
	// a client's further streams wait until one ends.
	MaxConcurrentStreams uint32
	// TLS, when not nil, makes [Server.Serve] serve TLS with it (see
	// [LoadTLS]); nil serves plaintext.
	TLS *tls.Config
	// Contract is the contract version served (default [ContractV2]).
	Contract Contract
	// StagingMaxBytes bounds the bytes of the staging area
	// (<OutDir>/.staging: staged JSONL and manifests; default
	// [DefaultStagingMaxBytes]). A stream that would take it past the bound
	// is answered RESOURCE_EXHAUSTED.
	StagingMaxBytes int64
	// StagingTTL is how long staged chunks are kept after their last write
	// when no stream resumes them (default [DefaultStagingTTL]).
	StagingTTL time.Duration
	// StagingSyncBytes and StagingSyncInterval group the staging's fsyncs
	// (defaults [DefaultStagingSyncBytes], [DefaultStagingSyncInterval]);
	// StagingSyncBytes 1 syncs after every chunk.
	StagingSyncBytes    int64
	StagingSyncInterval time.Duration
	// Hooks are test signals; the zero value does nothing.
	Hooks Hooks
}

// Hooks are called synchronously from stream handlers, so tests can wait on
// events instead of sleeping. They must be quick and safe for concurrent use.
type Hooks struct {
	// ChunkReceived is called after a chunk has been validated and written
	// (and, if the sync policy said so, its boundary synced).
	ChunkReceived func(ingestID string, sequence uint64)
	// ChunkStaged is called after a boundary is synced: chunks 0..chunks-1,
	// records in all, are staged durably and GetIngestState reports them.
	ChunkStaged func(ingestID string, chunks, records uint64)
	// StagingDropped is called after an ingest's staging is removed, with
	// one of the Drop* reasons.
	StagingDropped func(ingestID, reason string)
	// StreamDone is called when a stream's handler is about to return, after
	// its commit or clean-up is complete.
	StreamDone func(Result)
}

// Outcome is how a stream ended.
type Outcome string

// The outcomes of a stream.
const (
	OutcomeCommitted Outcome = "committed" // applied and recorded in the ledger
	OutcomeDuplicate Outcome = "duplicate" // already committed: answered duplicate=true
	OutcomeRejected  Outcome = "rejected"  // INVALID_ARGUMENT or FAILED_PRECONDITION
	OutcomeAborted   Outcome = "aborted"   // cancelled, broken, stopped or transient error: nothing applied
	OutcomeInjected  Outcome = "injected"  // UNAVAILABLE by fault injection
)

// Result describes one finished stream, for [Hooks.StreamDone] and the log.
type Result struct {
	IngestID string
	Domain   string
	Attempt  uint32
	Records  uint64 // records received on this stream
	Chunks   uint64 // chunks received on this stream
	// ResumedRecords and ResumedChunks are what earlier streams had staged
	// and this one resumed from (0: a full stream).
	ResumedRecords uint64
	ResumedChunks  uint64
	Outcome        Outcome
	Err            error // the gRPC status error returned; nil when committed or duplicate
	Duration       time.Duration
	// Message is the answer's message (committed or duplicate); empty
	// when the stream failed.
	Message string
	// Pulled marks a stream pulled from a worker ([Server.Pull]) rather
	// than pushed.
	Pulled bool
}

// LoadTLS builds the server's TLS configuration from PEM files: certFile and
// keyFile are the server's certificate and key; clientCAFile, when set, is
// the CA bundle that client certificates must chain to (mutual TLS). It
// returns nil, nil when certFile and keyFile are empty (plaintext).
func LoadTLS(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		if clientCAFile != "" {
			return nil, errors.New("batchserver: a client CA needs a server certificate and key (TLS)")
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("batchserver: load TLS certificate: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("batchserver: read client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("batchserver: no PEM certificates in client CA %s", clientCAFile)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// LoadClientTLS builds the TLS configuration of a pull client
// ([DialWorker]) from PEM files: caFile verifies the worker's certificate
// (empty: the system's roots), certFile and keyFile are the client's
// certificate for a worker that requires mutual TLS, and serverName, when
// set, is the name checked in the worker's certificate. It returns nil,
// nil when no file is named (plaintext).
func LoadClientTLS(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("batchserver: a client certificate needs its key, and the other way round")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("batchserver: read TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("batchserver: no PEM certificates in TLS CA %s", caFile)
		}
		tc.RootCAs = pool
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("batchserver: load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
