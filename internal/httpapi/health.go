package httpapi

import (
	"context"
	"net/http"
	"time"
)

// HealthResponse is the body of /healthz and of a ready /readyz.
type HealthResponse struct {
	Status string `json:"status"`
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, HealthResponse{Status: "ok"})
	return nil
}

// readyTimeout bounds one readiness check.
const readyTimeout = 3 * time.Second

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, message: "not ready: " + err.Error(), err: err}
		}
	}
	// Listings and counts need the job index: not ready until it loaded.
	if ix, ok := s.cfg.Index.(interface{ Ready() bool }); ok && !ix.Ready() {
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, message: "not ready: the job index is loading"}
	}
	writeJSON(w, http.StatusOK, HealthResponse{Status: "ready"})
	return nil
}
