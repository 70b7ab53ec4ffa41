package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

// Handler serves the worker's /healthz, /readyz and /metrics: see
// [NewHandler].
func (w *Worker) Handler() http.Handler { return NewHandler(nil, w.Readiness, w.metrics) }

// NewHandler serves /healthz (200 while live returns nil, else 503 with
// its error as the reason; a nil live is always alive), /readyz (200 when
// ready returns nil, else 503 with its error as the reason) and m's
// /metrics. The worker's main serves it before it connects to NATS, with
// a ready that fails until the [Worker] exists, and a live that fails once
// its NATS connection is closed for good (the process then exits).
func NewHandler(live, ready func() error, m *Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		if live != nil {
			if err := live(); err != nil {
				writeJSON(rw, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "reason": err.Error()})
				return
			}
		}
		writeJSON(rw, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			writeJSON(rw, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		writeJSON(rw, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", m.Handler())
	return mux
}

func writeJSON(rw http.ResponseWriter, code int, body map[string]string) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	_ = json.NewEncoder(rw).Encode(body) // the client went away: nothing to do
}

// DefaultMetricsAddr is the address a worker serves /healthz, /readyz and
// /metrics on ([ServeHTTP]) when not told otherwise (METRICS_ADDR).
const DefaultMetricsAddr = ":9090"

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
