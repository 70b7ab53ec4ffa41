package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/embedstream/embedstream/internal/clip"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/wire"
)

// Limits of GET /jobs and GET /dlq.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// JobList is the body of GET /jobs.
type JobList struct {
	Jobs []queue.Status `json:"jobs"`
}

func (s *Server) handleJob(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := wire.ValidateID("job id", id); err != nil {
		return errorf(http.StatusNotFound, CodeNotFound, "no job %s: %v", clip.Quote(id), err)
	}
	setJobID(r, id)
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	st, err := s.q.GetStatus(ctx, id)
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: CodeNotFound, message: fmt.Sprintf("no job %q", id), err: err}
	case err != nil:
		return fmt.Errorf("job %s: %w", id, err)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) handleJobs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := queue.Filter{State: q.Get("state"), Domain: q.Get("domain")}
	switch f.State {
	case "", queue.StateQueued, queue.StateRunning, queue.StateRetrying, queue.StateSucceeded, queue.StateFailed:
	default:
		return errorf(http.StatusBadRequest, CodeBadRequest, "state is %s; want one of queued, running, retrying, succeeded, failed", clip.Quote(f.State))
	}
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		return err
	}
	f.Limit = limit
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	jobs, err := s.q.ListStatus(ctx, f)
	if err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	if jobs == nil {
		jobs = []queue.Status{}
	}
	writeJSON(w, http.StatusOK, JobList{Jobs: jobs})
	return nil
}

func parseLimit(v string) (int, error) {
	if v == "" {
		return DefaultListLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxListLimit {
		return 0, errorf(http.StatusBadRequest, CodeBadRequest, "limit is %s; want an integer from 1 to %d", clip.Quote(v), MaxListLimit)
	}
	return n, nil
}
