package batchserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// Transport settings that keep the server from being the bottleneck of a
// loopback benchmark (see the shared README's measurements): 16 MiB flow
// control windows and 256 KiB socket buffers.
const (
	windowSize = 16 << 20
	bufferSize = 256 << 10

	keepaliveTime    = 30 * time.Second // ping a connection idle this long
	keepaliveTimeout = 10 * time.Second // and close it if the ping is not answered within this
)

// File names inside Config.OutDir (the staging directory's are in
// staging.go).
const (
	ledgerName = "ledger.jsonl"
	lockName   = ".lock"
)

// Server is the reference batch server: an EmbeddingStreamService that
// commits each stream all or nothing to a JSONL file and a ledger. Create it
// with [New], run it with [Server.Serve] (or [Server.Register] on a gRPC
// server of your own) and release it with [Server.Close].
type Server struct {
	pb.UnimplementedEmbeddingStreamServiceServer

	cfg        Config
	log        zerolog.Logger
	stagingDir string
	health     *health.Server
	lock       *os.File

	mu       sync.Mutex
	ledger   *ledger             // guarded by mu
	inFlight map[string]*claim   // ingest ids with a stream (or the cleaner) holding them; guarded by mu
	staged   map[string]*staging // ingest ids with staged chunks or a stream staging them; guarded by mu
	closed   bool                // guarded by mu

	stagingUsed atomic.Int64  // bytes in the staging area (JSONL and manifests)
	stopClean   chan struct{} // closed by Close: ends cleanLoop
	cleanDone   chan struct{} // closed when cleanLoop has returned

	rngMu sync.Mutex
	rng   *rand.Rand // FailRate's generator; guarded by rngMu

	stats counters
}

// claim is a stream's hold on its ingest_id while it receives and commits.
type claim struct {
	attempt    uint32
	committing bool          // the commit has begun: it can no longer be preempted; guarded by Server.mu
	preempted  bool          // preempt is closed; guarded by Server.mu
	preempt    chan struct{} // closed when a stream of a later attempt takes over
	released   chan struct{} // closed when the holder is done (committed or cleaned up)
}

// counters back [Stats].
type counters struct {
	streams, commits, duplicates, rejected, aborted, injected, records, resumed, pulls atomic.Uint64
	inFlight                                                                           atomic.Int64
}

// Stats counts the streams a Server has seen since [New].
type Stats struct {
	Streams     uint64 // streams started
	Commits     uint64 // streams committed
	Duplicates  uint64 // streams answered duplicate=true
	Rejected    uint64 // streams answered INVALID_ARGUMENT or FAILED_PRECONDITION
	Aborted     uint64 // streams that ended uncommitted otherwise (cancelled, stopped, ABORTED, storage errors)
	Injected    uint64 // streams answered UNAVAILABLE by fault injection
	Records     uint64 // records committed
	Resumed     uint64 // streams that resumed staged chunks
	Pulls       uint64 // streams pulled from workers ([Server.Pull]), also counted above
	InFlight    int64  // streams running now
	Staged      int    // ingest ids with staged chunks (or a stream staging them) now
	StagedBytes int64  // bytes in the staging area now
}

// New opens (creating if needed) cfg.OutDir, locks it against a second
// server, replays the ledger so deduplication survives restarts, recovers
// ledger entries for committed files the ledger misses (a crash between the
// rename and the ledger append), and recovers the staging area (see
// "Staging" in the package doc). It starts the loop that drops expired
// staging; the caller must call [Server.Close].
func New(cfg Config, log zerolog.Logger) (*Server, error) {
	if cfg.OutDir == "" {
		return nil, errors.New("batchserver: Config.OutDir is empty")
	}
	if cfg.FailRate < 0 || cfg.FailRate > 1 {
		return nil, fmt.Errorf("batchserver: Config.FailRate %v is not between 0 and 1", cfg.FailRate)
	}
	if cfg.MaxRecvMsgSize <= 0 {
		cfg.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	if cfg.MaxConcurrentStreams == 0 {
		cfg.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	switch cfg.Contract {
	case "":
		cfg.Contract = ContractV2
	case ContractV1, ContractV2:
	default:
		return nil, fmt.Errorf("batchserver: Config.Contract %q is not %q or %q", cfg.Contract, ContractV1, ContractV2)
	}
	if cfg.StagingMaxBytes <= 0 {
		cfg.StagingMaxBytes = DefaultStagingMaxBytes
	}
	if cfg.StagingTTL <= 0 {
		cfg.StagingTTL = DefaultStagingTTL
	}
	if cfg.StagingSyncBytes <= 0 {
		cfg.StagingSyncBytes = DefaultStagingSyncBytes
	}
	if cfg.StagingSyncInterval <= 0 {
		cfg.StagingSyncInterval = DefaultStagingSyncInterval
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("batchserver: create output directory: %w", err)
	}
	lock, err := lockDir(filepath.Join(cfg.OutDir, lockName))
	if err != nil {
		return nil, fmt.Errorf("batchserver: %w", err)
	}
	s := &Server{
		cfg:        cfg,
		log:        log,
		stagingDir: filepath.Join(cfg.OutDir, stagingDirName),
		health:     health.NewServer(),
		lock:       lock,
		inFlight:   map[string]*claim{},
		staged:     map[string]*staging{},
		stopClean:  make(chan struct{}),
		cleanDone:  make(chan struct{}),
		rng:        rand.New(rand.NewPCG(cfg.FailSeed, cfg.FailSeed^0x9e3779b97f4a7c15)),
	}
	if err := s.open(); err != nil {
		_ = lock.Close() // releases the lock; the open error is the one to report
		return nil, fmt.Errorf("batchserver: %w", err)
	}
	go s.cleanLoop(s.stopClean, s.cleanDone)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(pb.EmbeddingStreamService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return s, nil
}

// open replays the ledger and recovers committed files and the staging
// area.
func (s *Server) open() error {
	l, torn, err := openLedger(filepath.Join(s.cfg.OutDir, ledgerName))
	if err != nil {
		return err
	}
	if torn > 0 {
		s.log.Warn().Int("bytes", torn).Msg("cut a torn line off the end of the ledger")
	}
	s.ledger = l
	if err := s.recover(); err != nil {
		_ = l.close() // the recovery error is the one to report
		return err
	}
	if err := s.recoverStaging(time.Now()); err != nil {
		_ = l.close() // the recovery error is the one to report
		return err
	}
	s.log.Info().Int("commits", len(l.entries)).Int("staged", len(s.staged)).Int64("staged_bytes", s.stagingUsed.Load()).
		Str("out", s.cfg.OutDir).Bool("discard", s.cfg.Discard).Str("contract", string(s.cfg.Contract)).Msg("ledger replayed")
	return nil
}

// recover appends a ledger entry for every committed file
// (<out>/<domain>/<id>.jsonl) the ledger does not list: such a file was
// renamed into place, so its stream was applied, but the server stopped
// before the ledger append. Treating it as committed keeps a redelivery from
// applying it twice.
func (s *Server) recover() error {
	domains, err := os.ReadDir(s.cfg.OutDir)
	if err != nil {
		return fmt.Errorf("scan output directory: %w", err)
	}
	for _, d := range domains {
		if !d.IsDir() || wire.ValidateID("domain", d.Name()) != nil {
			continue
		}
		dir := filepath.Join(s.cfg.OutDir, d.Name())
		files, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("scan %s: %w", dir, err)
		}
		for _, f := range files {
			id, ok := strings.CutSuffix(f.Name(), ".jsonl")
			if !ok || f.IsDir() || wire.ValidateID("ingest_id", id) != nil {
				continue
			}
			if _, ok := s.ledger.entries[id]; ok {
				continue
			}
			e, err := recoveredEntry(filepath.Join(dir, f.Name()), d.Name(), id)
			if err != nil {
				return err
			}
			if err := s.ledger.append(e); err != nil {
				return err
			}
			s.log.Warn().Str("ingest_id", id).Str("domain", e.Domain).Uint64("records", e.Records).
				Msg("committed file had no ledger entry; recovered it from the file")
		}
	}
	return nil
}

// recoveredEntry builds the ledger entry of a committed file from its
// contents: one record per line.
func recoveredEntry(path, domain, id string) (Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return Entry{}, fmt.Errorf("recover %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Entry{}, fmt.Errorf("recover %s: %w", path, err)
	}
	var n uint64
	r := bufio.NewReaderSize(f, 256<<10)
	for {
		b, err := r.ReadSlice('\n')
		if len(b) > 0 && b[len(b)-1] == '\n' {
			n++
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			break
		}
	}
	return Entry{IngestID: id, Domain: domain, Records: n, CommittedAt: st.ModTime().UTC(), Recovered: true}, nil
}

// Register registers the EmbeddingStreamService on r. Use it to serve the
// batch server from a gRPC server of your own, built with
// [Server.ServerOptions]; [Server.Serve] does all of this itself. With
// [ContractV1] the service is registered as v1 described it, without
// GetIngestState, so gRPC answers that method UNIMPLEMENTED as a v1 server
// does.
func (s *Server) Register(r grpc.ServiceRegistrar) {
	if s.cfg.Contract != ContractV1 {
		pb.RegisterEmbeddingStreamServiceServer(r, s)
		return
	}
	desc := pb.EmbeddingStreamService_ServiceDesc
	desc.Methods = slices.DeleteFunc(slices.Clone(desc.Methods), func(m grpc.MethodDesc) bool { return m.MethodName == "GetIngestState" })
	r.RegisterService(&desc, s)
}

// GetIngestState implements the contract's v2 RPC: whether ingestID is
// committed and, if not, which chunks of an unfinished stream are staged
// (only synced boundaries), with the metadata they were staged under and
// when they expire. An unknown ingest_id gets a response with every field
// but ingest_id empty; an invalid one INVALID_ARGUMENT. A committed
// ingest's response carries its source_sha256, domain, total_records and
// attempt from the ledger (not its schema). With [ContractV1] it answers
// UNIMPLEMENTED.
func (s *Server) GetIngestState(_ context.Context, req *pb.GetIngestStateRequest) (*pb.GetIngestStateResponse, error) {
	if s.cfg.Contract == ContractV1 {
		return nil, status.Error(codes.Unimplemented, "GetIngestState is not part of contract v1")
	}
	if err := wire.ValidateID("ingest_id", req.GetIngestId()); err != nil {
		return nil, invalid("%v", err)
	}
	return s.ingestState(req.GetIngestId()), nil
}

// RegisterHealth registers the standard gRPC health service, reporting
// SERVING for "" and the EmbeddingStreamService until a stop begins.
func (s *Server) RegisterHealth(r grpc.ServiceRegistrar) {
	healthpb.RegisterHealthServer(r, s.health)
}

// ServerOptions returns the gRPC server options the batch server runs with:
// the receive limit, 16 MiB flow-control windows, 256 KiB buffers, TLS when
// configured, and Stop waiting for handlers so no commit is cut short.
func (s *Server) ServerOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.cfg.MaxRecvMsgSize),
		grpc.InitialWindowSize(windowSize),
		grpc.InitialConnWindowSize(windowSize),
		grpc.ReadBufferSize(bufferSize),
		grpc.WriteBufferSize(bufferSize),
		grpc.WaitForHandlers(true),
		grpc.MaxConcurrentStreams(s.cfg.MaxConcurrentStreams),
		// Find connections of vanished clients (no FIN, e.g. a network
		// partition), so their streams end and release their ingest_id.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if s.cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.cfg.TLS)))
	}
	return opts
}

// Serve serves the EmbeddingStreamService and the gRPC health service on lis
// until ctx is done, then stops gracefully: health turns NOT_SERVING, new
// streams are refused, and running streams get Config.StopTimeout to finish
// (commit) before they are cancelled (and commit nothing). It returns nil
// after a stop caused by ctx, or the error that made serving fail. Serve
// closes lis; it does not close the Server. Call it at most once.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	gs := grpc.NewServer(s.ServerOptions()...)
	s.Register(gs)
	s.RegisterHealth(gs)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	s.log.Info().Str("addr", lis.Addr().String()).Bool("tls", s.cfg.TLS != nil).Msg("batch server serving")

	select {
	case err := <-served:
		s.health.Shutdown()
		gs.Stop()
		return fmt.Errorf("batchserver: serve: %w", err)
	case <-ctx.Done():
	}
	s.health.Shutdown()
	s.log.Info().Int64("in_flight", s.stats.inFlight.Load()).Dur("timeout", s.cfg.StopTimeout).Msg("batch server stopping")
	force := time.AfterFunc(s.cfg.StopTimeout, func() {
		s.log.Warn().Int64("in_flight", s.stats.inFlight.Load()).Msg("graceful stop timed out; cancelling running streams")
		gs.Stop()
	})
	gs.GracefulStop()
	force.Stop()
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("batchserver: serve: %w", err)
	}
	s.log.Info().Msg("batch server stopped")
	return nil
}

// Close stops the staging clean-up loop and releases the ledger and the
// output directory's lock. Streams still running fail with UNAVAILABLE at
// their commit. Close is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stopClean)
	<-s.cleanDone
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health.Shutdown()
	return errors.Join(s.ledger.close(), s.lock.Close())
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	staged := len(s.staged)
	s.mu.Unlock()
	c := &s.stats
	return Stats{
		Streams:     c.streams.Load(),
		Commits:     c.commits.Load(),
		Duplicates:  c.duplicates.Load(),
		Rejected:    c.rejected.Load(),
		Aborted:     c.aborted.Load(),
		Injected:    c.injected.Load(),
		Records:     c.records.Load(),
		Resumed:     c.resumed.Load(),
		Pulls:       c.pulls.Load(),
		InFlight:    c.inFlight.Load(),
		Staged:      staged,
		StagedBytes: s.stagingUsed.Load(),
	}
}

// Committed returns the ledger entry of ingestID, if it has been committed.
func (s *Server) Committed(ingestID string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.ledger.entries[ingestID]
	return e, ok
}

// OutputPath returns where the committed file of ingestID in domain lives
// (it exists only once committed, and never with Config.Discard).
func (s *Server) OutputPath(domain, ingestID string) string {
	return filepath.Join(s.cfg.OutDir, domain, ingestID+".jsonl")
}
