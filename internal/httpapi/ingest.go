package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/rs/zerolog"

	"github.com/embedstream/embedstream/internal/clip"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/telemetry"
	"github.com/embedstream/embedstream/internal/wire"
)

// HeaderIdempotencyKey names the header whose value becomes the job id (and
// the Nats-Msg-Id), so a retried POST enqueues one job.
const HeaderIdempotencyKey = "Idempotency-Key"

// ingestRequest is the optional JSON body of POST /data/ingest/{domain}.
type ingestRequest struct {
	FileName string           `json:"file_name"`
	Source   string           `json:"source"`
	Options  queue.JobOptions `json:"options"`
}

// EnqueueResponse is the body of a 202 from POST /data/ingest/{domain} and
// POST /dlq/{id}/replay.
type EnqueueResponse struct {
	JobID     string `json:"job_id"`
	Domain    string `json:"domain"`
	FileName  string `json:"file_name"`
	Source    string `json:"source"`
	StatusURL string `json:"status_url"`
	// Duplicate is true when the job id was enqueued before (a repeated
	// Idempotency-Key): nothing new was enqueued, and Domain, FileName and
	// Source are the stored job's.
	Duplicate bool `json:"duplicate,omitempty"`
}

func statusURL(id string) string { return "/jobs/" + id }

func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) error {
	domain := r.PathValue("domain")
	if err := checkDomain(domain, s.domains.Names()); err != nil {
		return err
	}
	job, err := s.parseIngest(r, domain)
	if err != nil {
		return err
	}
	if job.ID != "" {
		setJobID(r, job.ID)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	// Refuse at once while NATS is unreachable or the job stream is gone:
	// the answer is then certain to be "nothing was enqueued".
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(ctx); err != nil {
			return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable,
				message: "the job queue (NATS) is unavailable; nothing was enqueued, retry later", err: err}
		}
	}
	res, err := s.q.Enqueue(ctx, job)
	resp, err := EnqueueOutcome(res, err, telemetry.Logger(r.Context()))
	if errors.Is(err, queue.ErrIdempotencyConflict) {
		setJobID(r, res.JobID)
		return &apiError{status: http.StatusConflict, code: CodeIdempotencyConflict, message: fmt.Sprintf(
			"Idempotency-Key %q is already the id of a %s job for %q (source %s); nothing was enqueued: use another key for another job",
			res.JobID, resp.Domain, resp.FileName, resp.Source), err: err}
	}
	if err != nil {
		return fmt.Errorf("enqueue %s job for %q: %w", domain, job.FileName, err)
	}
	setJobID(r, res.JobID)
	if !res.Duplicate {
		s.metrics.enqueued.WithLabelValues(domain).Inc()
	}
	w.Header().Set("Location", resp.StatusURL)
	writeJSON(w, http.StatusAccepted, resp)
	return nil
}

// EnqueueOutcome interprets what [queue.Queue.Enqueue] returned, for every
// front end that enqueues (API, CLI): the answer to give, from the job's
// status record in res (for a duplicate, the STORED job's domain, file_name
// and source, not the repeated request's), and a nil error when the job is
// enqueued. [queue.ErrStatusWrite] counts as enqueued (the job is durable;
// the worker writes the record when it takes the job) and is logged on log
// as a warning. An [queue.ErrIdempotencyConflict] is returned with the
// answer filled from the stored job, for the caller to name it.
func EnqueueOutcome(res queue.EnqueueResult, err error, log *zerolog.Logger) (EnqueueResponse, error) {
	resp := EnqueueResponse{
		JobID: res.JobID, Domain: res.Status.Domain, FileName: res.Status.FileName, Source: res.Status.Source,
		StatusURL: statusURL(res.JobID), Duplicate: res.Duplicate,
	}
	switch {
	case err == nil:
		return resp, nil
	case errors.Is(err, queue.ErrStatusWrite) && res.JobID != "":
		log.Warn().Err(err).Str("job_id", res.JobID).Msg("job enqueued without its queued status record")
		return resp, nil
	case errors.Is(err, queue.ErrIdempotencyConflict):
		return resp, err
	default:
		return EnqueueResponse{}, err
	}
}

// parseIngest builds the job from the query string and the optional JSON
// body, validating everything that can be checked before enqueueing.
func (s *Server) parseIngest(r *http.Request, domain string) (queue.Job, error) {
	var req ingestRequest
	if err := s.decodeBody(r, &req); err != nil {
		return queue.Job{}, err
	}
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		dst  *string
	}{{"file_name", &req.FileName}, {"source", &req.Source}} {
		v := q.Get(p.name)
		switch {
		case v == "":
		case *p.dst == "":
			*p.dst = v
		case *p.dst != v:
			return queue.Job{}, errorf(http.StatusBadRequest, CodeBadRequest, "%s is %s in the query string but %s in the body", p.name, clip.Quote(v), clip.Quote(*p.dst))
		}
	}
	job := queue.Job{Domain: domain, FileName: req.FileName, Source: req.Source, Options: req.Options}
	if key := r.Header.Get(HeaderIdempotencyKey); key != "" {
		if err := wire.ValidateID(HeaderIdempotencyKey, key); err != nil {
			return queue.Job{}, &apiError{status: http.StatusBadRequest, code: CodeInvalidID, message: err.Error(), err: err}
		}
		job.ID = key
	}
	return CheckJob(job, s.jobRules())
}

// jobRules are the API's settings for [CheckJob].
func (s *Server) jobRules() JobRules {
	return JobRules{Domains: s.domains.Names(), AllowedExt: s.cfg.AllowedExt, DataDir: s.cfg.DataDir}
}

// decodeBody decodes a JSON object body into v. An empty body leaves v
// alone; unknown fields and trailing data are refused.
func (s *Server) decodeBody(r *http.Request, v any) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, s.cfg.MaxBodyBytes))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &apiError{status: http.StatusRequestTimeout, code: CodeTimeout,
			message: fmt.Sprintf("the request body did not arrive within %s", s.cfg.ReadTimeout), err: err}
	}
	if err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, CodeBadRequest, "request body is not a valid JSON object of this route: %s", clip.Text(err.Error(), clip.MaxEcho))
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, CodeBadRequest, "request body has data after its JSON object")
	}
	return nil
}
