package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

// Handler serves the worker's /healthz (the process is alive), /readyz
// (connected to NATS and bound to the consumer: 200, else 503) and /metrics.
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, http.StatusOK, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) {
		switch {
		case !w.conn.IsConnected():
			writeJSON(rw, http.StatusServiceUnavailable, `{"status":"not ready","reason":"nats disconnected"}`)
		case !w.bound.Load():
			writeJSON(rw, http.StatusServiceUnavailable, `{"status":"not ready","reason":"consumer not bound"}`)
		default:
			writeJSON(rw, http.StatusOK, `{"status":"ready"}`)
		}
	})
	mux.Handle("GET /metrics", w.metrics.Handler())
	return mux
}

func writeJSON(rw http.ResponseWriter, code int, body string) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	_, _ = rw.Write([]byte(body + "\n")) // the client went away: nothing to do
}

// ServeHTTP serves h on addr until ctx ends, then shuts the server down
// gracefully (bounded by 5s). It returns once the listener is closed; an
// error means the address could not be served. ready, if not nil, receives
// the bound address once listening.
func ServeHTTP(ctx context.Context, addr string, h http.Handler, log zerolog.Logger, ready func(net.Addr)) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ingest: listen on %s: %w", addr, err)
	}
	if ready != nil {
		ready(lis.Addr())
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	log.Info().Str("addr", lis.Addr().String()).Msg("health and metrics listening")
	select {
	case err := <-served:
		return fmt.Errorf("ingest: serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("ingest: stop HTTP server: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("ingest: serve %s: %w", addr, err)
	}
	return nil
}
