package pull

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/chunk"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/domain"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// Defaults of [Config]; a zero field takes these.
const (
	// DefaultConcurrency is how many calls one worker serves at once
	// (PULL_CONCURRENCY): each holds a whole dataset in memory, as a job
	// does.
	DefaultConcurrency = 2
	// DefaultStopTimeout bounds a graceful stop (the worker's
	// SHUTDOWN_TIMEOUT is passed instead).
	DefaultStopTimeout = 30 * time.Second
)

// Transport settings, those of the push side: 16 MiB flow-control windows
// and 256 KiB buffers, and keepalive pings that find vanished callers.
const (
	windowSize       = 16 << 20
	bufferSize       = 256 << 10
	keepaliveTime    = 30 * time.Second
	keepaliveTimeout = 10 * time.Second
	// forceAfter is the longest calls cancelled at the stop timeout get to
	// return before the server closes their connections: a call blocked
	// in a send to a caller that stopped reading returns only then.
	forceAfter = time.Second
)

// progressEvery is how often a running call logs its progress.
const progressEvery = 5 * time.Second

// Loader loads a dataset's file; implemented by *dataset.Loader (its
// errors are the dataset stage's).
type Loader interface {
	Load(ctx context.Context, ref dataset.Ref) (*dataset.Dataset, dataset.Stats, error)
}

// Domains looks up a domain by name; implemented by *domain.Registry.
// Unknown names return an error wrapping domain.ErrUnknownDomain.
type Domains interface {
	Lookup(name string) (*domain.Domain, error)
}

// Config configures a [Server].
type Config struct {
	// Concurrency is the most calls served at once (PULL_CONCURRENCY;
	// default [DefaultConcurrency]); more are refused with
	// RESOURCE_EXHAUSTED.
	Concurrency int
	// Token, when not empty, is the bearer token every DatasetService call
	// must carry (PULL_TOKEN).
	Token string
	// TLS, when not nil, serves TLS (and mutual TLS when it requires client
	// certificates); [LoadTLS] builds it from the PULL_TLS_* files.
	TLS *tls.Config
	// ChunkRecords and ChunkBytes are the chunk bounds of a request that
	// sets none (CHUNK_RECORDS, CHUNK_BYTES; zero: package chunk's
	// defaults).
	ChunkRecords int
	ChunkBytes   int64
	// MaxMsgBytes is the largest message sent (default
	// chunk.DefaultMaxBytes, 4 MiB: what a gRPC client accepts unless told
	// otherwise).
	MaxMsgBytes int
	// StopTimeout is how long running calls may go on once a stop begins
	// (SHUTDOWN_TIMEOUT; default [DefaultStopTimeout]).
	StopTimeout time.Duration
	// Hooks are test signals; the zero value does nothing.
	Hooks Hooks
}

// Hooks are called synchronously from calls, so tests can wait on events
// instead of sleeping.
type Hooks struct {
	// Started is called once a call holds its slot, before it loads
	// anything. A test may block in it to keep the slot taken.
	Started func(requestID string)
	// Sent is called after each chunk the call sends, with its running
	// totals (chunks and encoded bytes sent).
	Sent func(requestID string, chunks, bytes uint64)
	// Done is called when a call has ended: its dataset released, its slot
	// freed, its metrics counted.
	Done func(Result)
}

// Result describes one finished call, for [Hooks.Done] and the log.
type Result struct {
	RequestID string
	IngestID  string // "" when the call ended before it was known
	Domain    string
	FileName  string // the request's file_name or object_name
	// Records, Chunks and Bytes count the chunks this call sent.
	Records, Chunks, Bytes uint64
	Code                   codes.Code
	Err                    error // the call's error (nil: OK)
	Duration               time.Duration
}

// Server serves DatasetService: see the package doc. Create it with
// [New] and run it with [Server.Serve] (or [Server.Register] and
// [Server.RegisterHealth] on a gRPC server built with
// [Server.ServerOptions]).
type Server struct {
	pb.UnimplementedDatasetServiceServer

	cfg     Config
	domains Domains
	data    Loader
	metrics *Metrics
	log     zerolog.Logger
	health  *health.Server
	token   [sha256.Size]byte // sha256 of cfg.Token, compared in constant time

	slots    chan struct{} // one value per call holding a slot
	stopping atomic.Bool
	// stopCtx is cancelled with ErrStopping at the stop timeout: every
	// call's context ends with it.
	stopCtx   context.Context
	stopCalls context.CancelCauseFunc
	// handlers counts StreamDataset handlers running; idle receives a
	// value when the count drops to zero.
	handlers atomic.Int64
	idle     chan struct{}
}

// New returns a Server loading files with data and validating them against
// domains. metrics may be nil (none are kept).
func New(cfg Config, domains Domains, data Loader, metrics *Metrics, log zerolog.Logger) (*Server, error) {
	if domains == nil || data == nil {
		return nil, errors.New("pull: New needs domains and a loader")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.MaxMsgBytes <= 0 {
		cfg.MaxMsgBytes = chunk.DefaultMaxBytes
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	if metrics == nil {
		metrics = NewMetrics()
	}
	s := &Server{
		cfg: cfg, domains: domains, data: data, metrics: metrics, log: log,
		health: health.NewServer(),
		token:  sha256.Sum256([]byte(cfg.Token)),
		slots:  make(chan struct{}, cfg.Concurrency),
		idle:   make(chan struct{}, 1),
	}
	s.stopCtx, s.stopCalls = context.WithCancelCause(context.Background())
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(pb.DatasetService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return s, nil
}

// InFlight returns the number of calls holding a slot now.
func (s *Server) InFlight() int { return len(s.slots) }

// Register registers the DatasetService on r.
func (s *Server) Register(r grpc.ServiceRegistrar) { pb.RegisterDatasetServiceServer(r, s) }

// RegisterHealth registers the standard gRPC health service, reporting
// SERVING for "" and the DatasetService until a stop begins.
func (s *Server) RegisterHealth(r grpc.ServiceRegistrar) { healthpb.RegisterHealthServer(r, s.health) }

// ServerOptions returns the options of the gRPC server the pull server
// runs on: the chunk codec (chunks go out as the bytes the encoder
// wrote), the token check, TLS when configured, 16 MiB flow-control
// windows, 256 KiB buffers and keepalive.
func (s *Server) ServerOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(chunk.Codec()),
		grpc.ChainStreamInterceptor(s.authorize),
		grpc.InitialWindowSize(windowSize),
		grpc.InitialConnWindowSize(windowSize),
		grpc.ReadBufferSize(bufferSize),
		grpc.WriteBufferSize(bufferSize),
		grpc.MaxSendMsgSize(s.cfg.MaxMsgBytes),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if s.cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.cfg.TLS)))
	}
	return opts
}

// authorize refuses DatasetService calls without the configured bearer
// token (UNAUTHENTICATED); other services (health) pass.
func (s *Server) authorize(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if s.cfg.Token == "" || !strings.HasPrefix(info.FullMethod, "/"+pb.DatasetService_ServiceDesc.ServiceName+"/") {
		return handler(srv, ss)
	}
	md, _ := metadata.FromIncomingContext(ss.Context())
	for _, v := range md.Get("authorization") {
		scheme, tok, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		if subtle.ConstantTimeCompare(sum[:], s.token[:]) == 1 {
			return handler(srv, ss)
		}
	}
	s.metrics.finished("", codes.Unauthenticated, 0, 0, 0)
	s.log.Warn().Str("peer", peerAddr(ss.Context())).Str("method", info.FullMethod).Msg("pull refused: no valid bearer token")
	return status.Error(codes.Unauthenticated, "a bearer token is required (authorization: Bearer <token>)")
}

// Serve serves the DatasetService and the health service on lis until ctx
// ends, then stops as the package doc says: health NOT_SERVING, new calls
// refused, running ones given Config.StopTimeout, then cancelled
// (UNAVAILABLE). It returns nil after a stop caused by ctx, or the error
// that made serving fail. It closes lis. Call it at most once.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	gs := grpc.NewServer(s.ServerOptions()...)
	s.Register(gs)
	s.RegisterHealth(gs)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	s.log.Info().Str("addr", lis.Addr().String()).Bool("tls", s.cfg.TLS != nil).Bool("token", s.cfg.Token != "").
		Int("concurrency", s.cfg.Concurrency).Msg("pull server serving")

	select {
	case err := <-served:
		s.stopping.Store(true)
		s.health.Shutdown()
		gs.Stop()
		return fmt.Errorf("pull: serve: %w", err)
	case <-ctx.Done():
	}
	s.stopping.Store(true)
	s.health.Shutdown()
	s.log.Info().Int("in_flight", s.InFlight()).Dur("timeout", s.cfg.StopTimeout).Msg("pull server stopping")
	force := time.AfterFunc(s.cfg.StopTimeout, func() {
		s.log.Warn().Int("in_flight", s.InFlight()).Msg("pull calls still running at the shutdown timeout; cancelling them")
		s.stopCalls(ErrStopping)
		// Once the cancelled handlers have returned, close the
		// connections: a caller that stopped reading would otherwise
		// hold its call's end, and the graceful stop, for ever.
		if s.handlers.Load() > 0 {
			select {
			case <-s.idle:
			case <-time.After(forceAfter):
			}
		}
		gs.Stop()
	})
	gs.GracefulStop()
	force.Stop()
	s.stopCalls(ErrStopping)
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("pull: serve: %w", err)
	}
	s.log.Info().Msg("pull server stopped")
	return nil
}
