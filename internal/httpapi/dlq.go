package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/embedstream/embedstream/internal/clip"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/wire"
)

// DeadLetterList is the body of GET /dlq.
type DeadLetterList struct {
	DeadLetters []queue.DeadLetter `json:"dead_letters"`
}

// DeletedResponse is the body of a 200 from DELETE /dlq/{id}.
type DeletedResponse struct {
	JobID   string `json:"job_id"`
	Deleted bool   `json:"deleted"`
}

func (s *Server) handleDLQList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	domain := q.Get("domain")
	if domain != "" {
		if err := checkDomain(domain, s.domains.Names()); err != nil {
			return err
		}
	}
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	dls, err := s.q.ListDeadLetters(ctx, domain, limit)
	if err != nil {
		return fmt.Errorf("list dead letters: %w", err)
	}
	if dls == nil {
		dls = []queue.DeadLetter{}
	}
	writeJSON(w, http.StatusOK, DeadLetterList{DeadLetters: dls})
	return nil
}

func (s *Server) handleDLQReplay(w http.ResponseWriter, r *http.Request) error {
	id, err := s.deadLetterID(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	res, err := s.q.ReplayDeadLetter(ctx, id)
	if err != nil {
		return deadLetterErr("replay", id, err)
	}
	resp := EnqueueResponse{
		JobID: res.JobID, Domain: res.Status.Domain, FileName: res.Status.FileName, Source: res.Status.Source,
		StatusURL: statusURL(res.JobID), Duplicate: res.Duplicate,
	}
	if !res.Duplicate && resp.Domain != "" {
		s.metrics.enqueued.WithLabelValues(resp.Domain).Inc()
	}
	w.Header().Set("Location", resp.StatusURL)
	writeJSON(w, http.StatusAccepted, resp)
	return nil
}

func (s *Server) handleDLQDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := s.deadLetterID(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	if err := s.q.DeleteDeadLetter(ctx, id); err != nil {
		return deadLetterErr("delete", id, err)
	}
	writeJSON(w, http.StatusOK, DeletedResponse{JobID: id, Deleted: true})
	return nil
}

func (s *Server) deadLetterID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if err := wire.ValidateID("job id", id); err != nil {
		return "", errorf(http.StatusNotFound, CodeNotFound, "no dead letter %s: %v", clip.Quote(id), err)
	}
	setJobID(r, id)
	return id, nil
}

func deadLetterErr(op, id string, err error) error {
	if errors.Is(err, queue.ErrNotFound) {
		return &apiError{status: http.StatusNotFound, code: CodeNotFound, message: fmt.Sprintf("no dead letter for job %q", id), err: err}
	}
	return fmt.Errorf("%s dead letter %s: %w", op, id, err)
}
