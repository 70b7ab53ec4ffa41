package batchservertest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/batchserver"
)

// stopTimeout bounds how long the server may take to stop at cleanup.
const stopTimeout = 60 * time.Second

// Server is a reference batch server serving on loopback.
type Server struct {
	*batchserver.Server

	// Addr is the server's host:port on 127.0.0.1.
	Addr string
	// OutDir is the directory the server commits into.
	OutDir string
}

// Start creates a batch server with cfg (OutDir defaults to a fresh
// t.TempDir()) and log, and serves it on 127.0.0.1 and a free port until
// the test ends. At cleanup it cancels Serve, waits for it and closes the
// server, failing the test if either reports an error.
func Start(t testing.TB, cfg batchserver.Config, log zerolog.Logger) *Server {
	t.Helper()
	if cfg.OutDir == "" {
		cfg.OutDir = t.TempDir()
	}
	srv, err := batchserver.New(cfg, log)
	if err != nil {
		t.Fatalf("batchservertest: new server: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = srv.Close()
		t.Fatalf("batchservertest: listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("batchservertest: serve: %v", err)
			}
		case <-time.After(stopTimeout):
			t.Errorf("batchservertest: server did not stop within %s", stopTimeout)
		}
		if err := srv.Close(); err != nil {
			t.Errorf("batchservertest: close: %v", err)
		}
	})
	return &Server{Server: srv, Addr: lis.Addr().String(), OutDir: cfg.OutDir}
}
