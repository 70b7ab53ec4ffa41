package localstack

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// ErrPortInUse is returned by [StartNATS] when the embedded server's port is
// taken, typically by another NATS server or another local stack.
var ErrPortInUse = errors.New("port in use")

// DefaultNATSPort is the embedded server's port when none is given
// (DEV_NATS_PORT): NATS's standard client port, which the workers' and the
// publisher's NATS_URL default to.
const DefaultNATSPort = nats.DefaultPort

// NATSConfig configures the embedded JetStream server.
type NATSConfig struct {
	Host     string // default 127.0.0.1
	Port     int    // 0: [DefaultNATSPort]; -1: any free port
	StoreDir string // JetStream file storage
	// MonitorPort, when > 0, serves the monitoring endpoints (/healthz,
	// /jsz) on Host:MonitorPort.
	MonitorPort int
}

// StartNATS starts an embedded NATS server with JetStream on file storage and
// waits until it accepts connections. Stop it with Shutdown and
// WaitForShutdown.
func StartNATS(cfg NATSConfig, log zerolog.Logger) (*server.Server, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultNATSPort
	}
	if cfg.Port > 0 {
		// nats-server reports a busy port only through its logger and
		// then exits the process; check first to give a clear error.
		lis, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("embedded NATS: %s:%d: %w (is another NATS server or `go run ./publisher/dev` running? pick another port with --nats-port or DEV_NATS_PORT)", cfg.Host, cfg.Port, ErrPortInUse)
			}
			return nil, fmt.Errorf("embedded NATS: listen on %s:%d: %w", cfg.Host, cfg.Port, err)
		}
		lis.Close()
	}
	if err := os.MkdirAll(cfg.StoreDir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded NATS: store dir: %w", err)
	}
	opts := &server.Options{
		ServerName: "embedstream-dev",
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		MaxPayload: 8 << 20,
	}
	if cfg.MonitorPort > 0 {
		opts.HTTPHost = cfg.Host
		opts.HTTPPort = cfg.MonitorPort
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	s.SetLoggerV2(natsLogger{log.With().Str("component", "nats").Logger()}, false, false, false)
	go s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS: not ready after 15s (store dir %s)", cfg.StoreDir)
	}
	return s, nil
}

// natsLogger routes the embedded server's log through zerolog. Notices are
// debug-level: the local stack prints its own summary.
type natsLogger struct{ l zerolog.Logger }

func (n natsLogger) Noticef(format string, v ...any) { n.l.Debug().Msgf(format, v...) }
func (n natsLogger) Warnf(format string, v ...any)   { n.l.Warn().Msgf(format, v...) }
func (n natsLogger) Fatalf(format string, v ...any)  { n.l.Error().Msgf(format, v...) }
func (n natsLogger) Errorf(format string, v ...any)  { n.l.Error().Msgf(format, v...) }
func (n natsLogger) Debugf(format string, v ...any)  { n.l.Trace().Msgf(format, v...) }
func (n natsLogger) Tracef(format string, v ...any)  { n.l.Trace().Msgf(format, v...) }
