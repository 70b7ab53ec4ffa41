package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/embedstream/embedstream/internal/clip"
	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/wire"
)

// Limits of GET /jobs and GET /dlq.
const (
	DefaultListLimit = 50
	MaxListLimit     = jobindex.MaxLimit
)

// JobList is the body of GET /jobs: one page of jobs, newest first.
type JobList struct {
	// Jobs are status records without their history (GET /jobs/{id} has
	// it).
	Jobs []queue.Status `json:"jobs"`
	// NextCursor, when set, is the cursor parameter of the next page.
	NextCursor string `json:"next_cursor,omitempty"`
	// Partial is true when a text search stopped after reading
	// jobindex.MaxScan jobs: the page may be short, and NextCursor
	// continues the search.
	Partial bool `json:"partial,omitempty"`
}

// JobView is the body of GET /jobs/{id}: the status record as stored,
// with what it says about the job's pace and, while it waits for a retry,
// its retry.
type JobView struct {
	queue.Status
	Pace  queue.Pace      `json:"pace"`
	Retry *queue.Retrying `json:"retry,omitempty"`
}

// NewJobView is st's [JobView] at now.
func NewJobView(st queue.Status, now time.Time) JobView {
	return JobView{Status: st, Pace: st.Pace(now), Retry: st.Retrying(now)}
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
		return &apiError{status: http.StatusNotFound, code: CodeNotFound, message: fmt.Sprintf("no job %s", clip.Quote(id)), err: err}
	case err != nil:
		return fmt.Errorf("job %s: %w", id, err)
	}
	writeJSON(w, http.StatusOK, NewJobView(st, time.Now()))
	return nil
}

// ParseJobQuery reads a listing's query parameters (state, domain, id,
// file, q, since, until, limit, cursor), as GET /jobs and the dashboard
// take them. since and until are RFC 3339 times or durations before now
// ("1h"). Errors name the parameter.
func ParseJobQuery(v url.Values, now time.Time) (jobindex.Query, error) {
	q := jobindex.Query{
		State: v.Get("state"), Domain: v.Get("domain"), ID: strings.TrimSpace(v.Get("id")),
		File: strings.TrimSpace(v.Get("file")), Text: strings.TrimSpace(v.Get("q")), Cursor: v.Get("cursor"),
	}
	if q.State != "" && !validState(q.State) {
		return q, fmt.Errorf("state is %s; want one of %s", clip.Quote(q.State), strings.Join(queue.States(), ", "))
	}
	if q.Domain != "" {
		if err := queue.ValidateDomain(q.Domain); err != nil {
			return q, fmt.Errorf("domain: %w", err)
		}
	}
	var err error
	if q.Since, err = ParseTime(v.Get("since"), now); err != nil {
		return q, fmt.Errorf("since: %w", err)
	}
	if q.Until, err = ParseTime(v.Get("until"), now); err != nil {
		return q, fmt.Errorf("until: %w", err)
	}
	if q.Limit, err = parseLimitValue(v.Get("limit")); err != nil {
		return q, err
	}
	return q, nil
}

func validState(s string) bool {
	for _, st := range queue.States() {
		if s == st {
			return true
		}
	}
	return false
}

// ParseTime reads a time bound: empty is none, an RFC 3339 time is
// itself, a duration ("90m", "2h") is that long before now.
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%s: a duration before now must be positive", clip.Quote(s))
		}
		return now.Add(-d).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is neither an RFC 3339 time (2026-11-25T09:30:00Z) nor a duration before now (1h)", clip.Quote(s))
	}
	return t.UTC(), nil
}

func (s *Server) handleJobs(w http.ResponseWriter, r *http.Request) error {
	q, err := ParseJobQuery(r.URL.Query(), time.Now())
	if err != nil {
		return errorf(http.StatusBadRequest, CodeBadRequest, "%v", err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	ix, err := s.index(ctx)
	if err != nil {
		return err
	}
	page, err := ix.List(ctx, q)
	switch {
	case errors.Is(err, jobindex.ErrBadCursor):
		return errorf(http.StatusBadRequest, CodeBadRequest, "cursor %s is not one this API returned", clip.Quote(q.Cursor))
	case err != nil:
		return fmt.Errorf("list jobs: %w", err)
	}
	jobs := page.Jobs
	if jobs == nil {
		jobs = []queue.Status{}
	}
	writeJSON(w, http.StatusOK, JobList{Jobs: jobs, NextCursor: page.Next, Partial: page.Partial})
	return nil
}

// index returns the job index, caught up with what JetStream stored
// before the request; without a configured one, a one-shot index read now.
func (s *Server) index(ctx context.Context) (JobIndex, error) {
	if s.cfg.Index == nil {
		ix, err := jobindex.Load(ctx, s.q)
		if err != nil {
			return nil, fmt.Errorf("read job status records: %w", err)
		}
		return ix, nil
	}
	if err := s.cfg.Index.Sync(ctx); err != nil {
		return nil, &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable,
			message: "the job index is still loading; retry in a few seconds", err: err}
	}
	return s.cfg.Index, nil
}

func parseLimit(v string) (int, error) {
	n, err := parseLimitValue(v)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, CodeBadRequest, "%v", err)
	}
	return n, nil
}

func parseLimitValue(v string) (int, error) {
	if v == "" {
		return DefaultListLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxListLimit {
		return 0, fmt.Errorf("limit is %s; want an integer from 1 to %d", clip.Quote(v), MaxListLimit)
	}
	return n, nil
}
