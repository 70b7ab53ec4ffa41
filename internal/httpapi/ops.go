package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/wire"
)

// CancelResponse is the body of POST /jobs/{id}/cancel: 200 with state
// canceled when the job was waiting (it is out of the queue), 202 with
// its current state and canceling true when its worker is stopping it.
type CancelResponse struct {
	JobID     string `json:"job_id"`
	State     string `json:"state"`
	Canceling bool   `json:"canceling,omitempty"`
	StatusURL string `json:"status_url"`
}

func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := wire.ValidateID("job id", id); err != nil {
		return errorf(http.StatusNotFound, CodeNotFound, "no job %q: %v", id, err)
	}
	setJobID(r, id)
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	res, err := s.q.CancelJob(ctx, id)
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: CodeNotFound, message: fmt.Sprintf("no job %q", id), err: err}
	case errors.Is(err, queue.ErrFinished):
		return &apiError{status: http.StatusConflict, code: CodeJobFinished,
			message: fmt.Sprintf("job %q %s already: nothing to cancel", id, res.Status.State), err: err}
	case err != nil:
		return fmt.Errorf("cancel job %s: %w", id, err)
	}
	status := http.StatusOK
	if res.Canceling {
		status = http.StatusAccepted
	}
	w.Header().Set("Location", statusURL(id))
	writeJSON(w, status, CancelResponse{JobID: id, State: res.State, Canceling: res.Canceling, StatusURL: statusURL(id)})
	return nil
}

// Windows of the figures GET /queue adds to JetStream's.
const (
	// ThroughputWindow is how far back GET /queue's records per second
	// look.
	ThroughputWindow = 5 * time.Minute
	// RecentWindow is the span of GET /queue's "recent" figures.
	RecentWindow = time.Hour
)

// QueueView is the body of GET /queue: what JetStream counts (the job
// stream and its consumer, the dead letters), the retained jobs by state
// from the job index, the last hour's outcomes, and the records committed
// per second over the last five minutes. `publisher queue --json` prints
// the same.
type QueueView struct {
	queue.QueueInfo
	Jobs       jobindex.Counts `json:"jobs"`
	Recent     RecentFigures   `json:"recent"`
	Throughput Throughput      `json:"throughput"`
}

// RecentFigures are the jobs finished and the attempts retried within
// the last WindowSeconds.
type RecentFigures struct {
	WindowSeconds int64  `json:"window_seconds"`
	Succeeded     uint64 `json:"succeeded"`
	Failed        uint64 `json:"failed"`
	Canceled      uint64 `json:"canceled"`
	Retried       uint64 `json:"retried"`
	Records       uint64 `json:"records"`
}

// Throughput is the records committed per second over WindowSeconds.
type Throughput struct {
	WindowSeconds    int64   `json:"window_seconds"`
	Records          uint64  `json:"records"`
	RecordsPerSecond float64 `json:"records_per_second"`
}

// LoadQueueView reads a [QueueView]: JetStream's figures (a few API
// calls) and the index's counts and series, each independent of the
// number of jobs retained. The dashboard's overview shows the same.
func LoadQueueView(ctx context.Context, q interface {
	Info(ctx context.Context) (queue.QueueInfo, error)
}, ix JobIndex, now time.Time) (QueueView, error) {
	info, err := q.Info(ctx)
	if err != nil {
		return QueueView{}, err
	}
	v := QueueView{QueueInfo: info}
	if v.Jobs, err = ix.Counts(ctx); err != nil {
		return v, err
	}
	recent, err := ix.Series(ctx, now.Add(-RecentWindow), now, RecentWindow)
	if err != nil {
		return v, err
	}
	// The series starts on a whole minute: the figures cover from there
	// to now.
	v.Recent = RecentFigures{WindowSeconds: int64(now.Sub(recent.From).Seconds()),
		Succeeded: recent.Totals.Succeeded, Failed: recent.Totals.Failed, Canceled: recent.Totals.Canceled,
		Retried: recent.Totals.Retried, Records: recent.Totals.Records}
	tp, err := ix.Series(ctx, now.Add(-ThroughputWindow), now, ThroughputWindow)
	if err != nil {
		return v, err
	}
	// The series is whole minutes; the rate is over the time they cover
	// up to now.
	span := now.Sub(tp.From)
	v.Throughput = Throughput{WindowSeconds: int64(span.Seconds()), Records: tp.Totals.Records}
	if span > 0 {
		v.Throughput.RecordsPerSecond = float64(tp.Totals.Records) / span.Seconds()
	}
	return v, nil
}

func (s *Server) handleQueue(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	ix, err := s.index(ctx)
	if err != nil {
		return err
	}
	v, err := LoadQueueView(ctx, s.q, ix, time.Now())
	if err != nil {
		return fmt.Errorf("queue figures: %w", err)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// WorkerList is the body of GET /workers.
type WorkerList struct {
	Workers []queue.WorkerInfo `json:"workers"`
}

func (s *Server) handleWorkers(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	ws, err := s.q.ListWorkers(ctx)
	if err != nil {
		return fmt.Errorf("list workers: %w", err)
	}
	if ws == nil {
		ws = []queue.WorkerInfo{}
	}
	writeJSON(w, http.StatusOK, WorkerList{Workers: ws})
	return nil
}

// Defaults of GET /stats/series.
const (
	DefaultSeriesRange = time.Hour
	MaxSeriesRange     = 31 * 24 * time.Hour
)

func (s *Server) handleSeries(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	now := time.Now()
	from, to, step, err := ParseSeriesRange(v, now)
	if err != nil {
		return errorf(http.StatusBadRequest, CodeBadRequest, "%v", err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	ix, err := s.index(ctx)
	if err != nil {
		return err
	}
	series, err := ix.Series(ctx, from, to, step)
	if err != nil {
		return fmt.Errorf("series: %w", err)
	}
	writeJSON(w, http.StatusOK, series)
	return nil
}

// ParseSeriesRange reads a series' range: since and until (RFC 3339 or a
// duration before now; default the last hour up to now) and step (a
// duration, whole minutes; default about 60 points over the range).
func ParseSeriesRange(v url.Values, now time.Time) (from, to time.Time, step time.Duration, err error) {
	if from, err = ParseTime(v.Get("since"), now); err != nil {
		return from, to, step, fmt.Errorf("since: %w", err)
	}
	if to, err = ParseTime(v.Get("until"), now); err != nil {
		return from, to, step, fmt.Errorf("until: %w", err)
	}
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = to.Add(-DefaultSeriesRange)
	}
	if !from.Before(to) || to.Sub(from) > MaxSeriesRange {
		return from, to, step, fmt.Errorf("the range must be positive and at most %s", MaxSeriesRange)
	}
	if sv := v.Get("step"); sv != "" {
		if step, err = time.ParseDuration(sv); err != nil || step < time.Minute {
			return from, to, step, fmt.Errorf("step is %q; want a duration of at least 1m", sv)
		}
	} else {
		step = max(to.Sub(from)/60, time.Minute).Round(time.Minute)
	}
	return from, to, step, nil
}

type bulkOp int

const (
	bulkReplay bulkOp = iota
	bulkPurge
)

// ParseDeadLetterFilter reads a bulk operation's filter (domain, class,
// reason, since, until) and refuses an empty one unless all is "true", so
// that every dead letter is only replayed or purged on purpose.
func ParseDeadLetterFilter(v url.Values, now time.Time) (queue.DeadLetterFilter, error) {
	f := queue.DeadLetterFilter{Domain: v.Get("domain"), Class: strings.TrimSpace(v.Get("class")), Reason: v.Get("reason")}
	var err error
	if f.Since, err = ParseTime(v.Get("since"), now); err != nil {
		return f, fmt.Errorf("since: %w", err)
	}
	if f.Until, err = ParseTime(v.Get("until"), now); err != nil {
		return f, fmt.Errorf("until: %w", err)
	}
	switch f.Reason {
	case "", queue.ReasonPermanent, queue.ReasonRetries, queue.ReasonMaxDeliveries:
	default:
		return f, fmt.Errorf("reason is %q; want %s, %s or %s", f.Reason, queue.ReasonPermanent, queue.ReasonRetries, queue.ReasonMaxDeliveries)
	}
	if f == (queue.DeadLetterFilter{}) && v.Get("all") != "true" {
		return f, errors.New("give a filter (domain, class, reason, since, until), or all=true to act on every dead letter")
	}
	return f, nil
}

func (s *Server) handleDLQBulk(op bulkOp) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := r.ParseForm(); err != nil {
			return errorf(http.StatusBadRequest, CodeBadRequest, "bad query or form: %v", err)
		}
		f, err := ParseDeadLetterFilter(r.Form, time.Now())
		if err != nil {
			return errorf(http.StatusBadRequest, CodeBadRequest, "%v", err)
		}
		if f.Domain != "" {
			if err := checkDomain(f.Domain, s.domains.Names()); err != nil {
				return err
			}
		}
		// A bulk operation may take longer than one call: a publish, a
		// status write and a delete per job.
		ctx, cancel := context.WithTimeout(r.Context(), 10*s.cfg.RequestTimeout)
		defer cancel()
		var res queue.BulkResult
		if op == bulkReplay {
			res, err = s.q.ReplayDeadLetters(ctx, f)
		} else {
			res, err = s.q.PurgeDeadLetters(ctx, f)
		}
		if err != nil {
			return fmt.Errorf("bulk dead letters: %w", err)
		}
		writeJSON(w, http.StatusOK, res)
		return nil
	}
}
