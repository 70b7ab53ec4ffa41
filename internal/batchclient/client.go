package batchclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/embedstream/embedstream/internal/chunk"
)

// Defaults of [Config]; a zero field takes these.
const (
	DefaultMaxMsgBytes      = chunk.DefaultMaxBytes // gRPC servers' default MaxRecvMsgSize
	DefaultBaseTimeout      = 60 * time.Second
	DefaultMinRate          = 10 << 20 // bytes per second
	DefaultKeepaliveTime    = 5 * time.Minute
	DefaultKeepaliveTimeout = 20 * time.Second
	DefaultWindowSize       = 16 << 20
	DefaultBufferSize       = 256 << 10
	// DefaultReadyTimeout bounds how long an attempt waits for a ready
	// connection (see Config.ReadyTimeout). Not a setting yet: a
	// hard-coded default until the worker's configuration names it.
	DefaultReadyTimeout = 30 * time.Second
)

// The connection's reconnect backoff (grpc.WithConnectParams). gRPC's
// default backoff grows from 1 s by 1.6x up to 120 s, so after an outage
// of a few minutes the connection could sleep up to two minutes after the
// server is back, and every attempt meanwhile failed at once with the
// stale error of the last try. Capped at 3 s (4.2 s with jitter), the
// connection is back within seconds of the server; retrying that often
// costs a down server one refused TCP handshake per client every few
// seconds, nothing next to the streams it serves when up. The first retry
// comes after 250 ms, so a restart of a second or two is ridden over
// without a noticeable pause. Each connection attempt gets at least
// ReconnectConnectTimeout to complete its TCP and TLS handshakes (gRPC's
// default is 20 s): plenty on any network a batch server is reached over,
// and it bounds how long an attempt into a silently dropped network
// holds up the next one.
const (
	ReconnectBaseDelay      = 250 * time.Millisecond
	ReconnectMultiplier     = 1.6
	ReconnectJitter         = 0.2
	ReconnectMaxDelay       = 3 * time.Second
	ReconnectConnectTimeout = 10 * time.Second
)

// DefaultAddr is where a worker looks for the batch server when not told
// otherwise (its setting BATCH_SERVER_ADDR defaults to it): the reference
// batch server's default listen address.
const DefaultAddr = "127.0.0.1:50051"

// Config configures a [Client].
type Config struct {
	// Addr is the batch server's host:port (required; the worker's
	// default is [DefaultAddr]).
	Addr string
	// TLSCA is a PEM CA bundle verifying the server's certificate; setting
	// it enables TLS. TLSCert and TLSKey add a client certificate (mTLS).
	TLSCA, TLSCert, TLSKey string
	// TLSServerName overrides the name checked in the server's certificate.
	TLSServerName string
	// MaxMsgBytes bounds every message the client sends; chunks never exceed
	// it (chunk.Options.MaxBytes). It must not exceed the server's max
	// receive size (default 4 MiB).
	MaxMsgBytes int
	// BaseTimeout plus the data size at MinRate bytes/second is each
	// stream's deadline.
	BaseTimeout time.Duration
	MinRate     float64
	// KeepaliveTime and KeepaliveTimeout configure HTTP/2 pings on an idle
	// connection. Servers refuse pings more frequent than their enforcement
	// policy (gRPC's default: 5 minutes), so keep KeepaliveTime at or above
	// it unless the server permits more.
	KeepaliveTime, KeepaliveTimeout time.Duration
	// WindowSize is the HTTP/2 stream and connection flow-control window;
	// BufferSize the transport's read and write buffers.
	WindowSize, BufferSize int
	// ReadyTimeout bounds how long an attempt waits for the connection to
	// the server to be ready (GetIngestState and the stream are opened
	// with gRPC's WaitForReady), within the attempt's deadline (default
	// [DefaultReadyTimeout]). Past it the attempt fails with
	// sink.ErrUnavailable: "batch server at ADDR not reachable for 30s:
	// ...".
	ReadyTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxMsgBytes <= 0 {
		c.MaxMsgBytes = DefaultMaxMsgBytes
	}
	if c.BaseTimeout <= 0 {
		c.BaseTimeout = DefaultBaseTimeout
	}
	if c.MinRate <= 0 {
		c.MinRate = DefaultMinRate
	}
	if c.KeepaliveTime <= 0 {
		c.KeepaliveTime = DefaultKeepaliveTime
	}
	if c.KeepaliveTimeout <= 0 {
		c.KeepaliveTimeout = DefaultKeepaliveTimeout
	}
	if c.WindowSize <= 0 {
		c.WindowSize = DefaultWindowSize
	}
	if c.BufferSize <= 0 {
		c.BufferSize = DefaultBufferSize
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
}

// Client streams datasets to one batch server. It is safe for concurrent
// use; streams share one HTTP/2 connection.
type Client struct {
	cfg  Config
	conn *grpc.ClientConn
	log  zerolog.Logger

	// stop ends the connection watcher; watched is closed when it has.
	stop    context.CancelFunc
	watched chan struct{}
	// conns counts the times the connection left the ready state: a new
	// value means a new connection, possibly to another server.
	conns atomic.Uint64
	// v1Conn is conns+1 when the server answered GetIngestState
	// UNIMPLEMENTED (contract v1) on that connection; 0: not known.
	v1Conn atomic.Uint64

	// afterPlan, if set, is called after an attempt has decided how to
	// stream and before it opens the stream (a test signal).
	afterPlan func()
}

// New returns a Client for cfg.Addr. It starts connecting at once, in the
// background, so that the first stream does not pay for the handshake, and
// until ctx ends (or the Client is closed) logs when the server is first
// reached or found unreachable, and when the connection is lost and
// re-made; the connection is re-made after failures, retrying at most
// [ReconnectMaxDelay] apart.
// New does not wait for it: it fails only on a bad configuration
// (unreadable TLS files, empty address).
func New(ctx context.Context, cfg Config, log zerolog.Logger) (*Client, error) {
	cfg.setDefaults()
	if cfg.Addr == "" {
		return nil, errors.New("batchclient: empty server address")
	}
	creds, err := transportCredentials(cfg)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(cfg.Addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithInitialWindowSize(int32(cfg.WindowSize)),
		grpc.WithInitialConnWindowSize(int32(cfg.WindowSize)),
		grpc.WithReadBufferSize(cfg.BufferSize),
		grpc.WithWriteBufferSize(cfg.BufferSize),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: cfg.KeepaliveTime, Timeout: cfg.KeepaliveTimeout}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  ReconnectBaseDelay,
				Multiplier: ReconnectMultiplier,
				Jitter:     ReconnectJitter,
				MaxDelay:   ReconnectMaxDelay,
			},
			MinConnectTimeout: ReconnectConnectTimeout,
		}),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallSendMsgSize(cfg.MaxMsgBytes),
			grpc.MaxCallRecvMsgSize(4<<20),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("batchclient: client for %s: %w", cfg.Addr, err)
	}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	c := &Client{cfg: cfg, conn: conn, log: log.With().Str("batch_server", cfg.Addr).Logger(), stop: stop, watched: make(chan struct{})}
	conn.Connect()
	go c.watch(wctx, ctx)
	return c, nil
}

// watch follows the connection's state until the Client is closed (wctx):
// it counts the times the connection leaves the ready state (c.conns),
// and until logCtx ends it logs the first time the server is reached (or
// found unreachable before that), and every loss and recovery after it,
// with how long the connection was down.
func (c *Client) watch(wctx, logCtx context.Context) {
	defer close(c.watched)
	var (
		connected bool      // ready at least once
		warned    bool      // said the server is not reachable yet
		lost      time.Time // when the connection left the ready state
	)
	state := c.conn.GetState()
	for {
		logs := logCtx.Err() == nil
		switch state {
		case connectivity.Ready:
			switch {
			case !connected:
				connected = true
				if logs {
					c.log.Info().Msg("batch server connected")
				}
			case !lost.IsZero():
				if logs {
					c.log.Info().Dur("down_for", time.Since(lost)).Msg("batch server reconnected")
				}
				lost = time.Time{}
			}
		case connectivity.TransientFailure:
			if !connected && !warned && logs {
				c.log.Warn().Msg("batch server not reachable yet; streams will wait for it")
				warned = true
			}
		case connectivity.Shutdown:
			return
		}
		if !c.conn.WaitForStateChange(wctx, state) {
			return
		}
		if state == connectivity.Ready {
			// Whatever it became (it may be ready again already, on a new
			// connection), the connection it had is gone.
			c.conns.Add(1)
			if lost.IsZero() {
				lost = time.Now()
				if logCtx.Err() == nil {
					c.log.Warn().Msg("batch server connection lost; reconnecting")
				}
			}
		}
		state = c.conn.GetState()
	}
}

// Close closes the connection; streams still running fail.
func (c *Client) Close() error {
	c.stop()
	<-c.watched
	if err := c.conn.Close(); err != nil {
		return fmt.Errorf("batchclient: close: %w", err)
	}
	return nil
}

func transportCredentials(cfg Config) (credentials.TransportCredentials, error) {
	if cfg.TLSCA == "" && cfg.TLSCert == "" {
		return insecure.NewCredentials(), nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("batchclient: read TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("batchclient: TLS CA %s holds no PEM certificate", cfg.TLSCA)
		}
		tc.RootCAs = pool
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("batchclient: load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(tc), nil
}
