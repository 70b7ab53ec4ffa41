package batchclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
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
}

// Client streams datasets to one batch server. It is safe for concurrent
// use; streams share one HTTP/2 connection.
type Client struct {
	cfg  Config
	conn *grpc.ClientConn
	log  zerolog.Logger
}

// New returns a Client for cfg.Addr. It starts connecting at once, in the
// background, so that the first stream does not pay for the handshake, and
// until ctx ends (or the Client is closed) logs when the server is first
// reached or found unreachable; the connection is re-made after failures.
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
		grpc.WithDefaultCallOptions(
			grpc.MaxCallSendMsgSize(cfg.MaxMsgBytes),
			grpc.MaxCallRecvMsgSize(4<<20),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("batchclient: client for %s: %w", cfg.Addr, err)
	}
	c := &Client{cfg: cfg, conn: conn, log: log.With().Str("batch_server", cfg.Addr).Logger()}
	conn.Connect()
	go c.watchFirstConnect(ctx)
	return c, nil
}

// watchFirstConnect logs the first time the connection is ready, and the
// first failure before that, until ctx ends or the connection is closed.
func (c *Client) watchFirstConnect(ctx context.Context) {
	warned := false
	for {
		state := c.conn.GetState()
		switch state {
		case connectivity.Ready:
			c.log.Info().Msg("batch server connected")
			return
		case connectivity.TransientFailure:
			if !warned {
				c.log.Warn().Msg("batch server not reachable yet; streams will retry")
				warned = true
			}
		case connectivity.Shutdown:
			return
		}
		if !c.conn.WaitForStateChange(ctx, state) {
			return
		}
	}
}

// Close closes the connection; streams still running fail.
func (c *Client) Close() error {
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
