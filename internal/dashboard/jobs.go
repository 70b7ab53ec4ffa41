package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/wire"
)

// allStates are the job states, in the order a job goes through them.
var allStates = []string{queue.StateQueued, queue.StateRunning, queue.StateRetrying, queue.StateSucceeded, queue.StateFailed}

// Limits of the jobs list.
const (
	defaultJobsLimit = 100
	maxJobsLimit     = 1000
)

// jobRow is one job as the pages show it.
type jobRow struct {
	ID       string
	ShortID  string // for tables; the full id is in the link's title
	Domain   string
	FileName string
	Source   string
	State    string
	Attempts int
	Sent     uint64
	Total    uint64
	// ProgressValue and ProgressMax feed a <progress> element: a job whose
	// total is not known yet shows 0 of 1, a finished empty job 1 of 1.
	ProgressValue uint64
	ProgressMax   uint64
	Percent       int
	Duration      string
	Enqueued      time.Time
	EnqueuedAgo   string
	Updated       time.Time
	Worker        string
	Error         *queue.JobError
}

func (d *Dashboard) row(st queue.Status) jobRow {
	now := d.now()
	r := jobRow{
		ID: st.JobID, ShortID: shortID(st.JobID), Domain: st.Domain, FileName: st.FileName, Source: st.Source, State: st.State,
		Attempts: st.Attempts, Sent: st.RecordsSent, Total: st.RecordsTotal,
		Enqueued: st.EnqueuedAt, Updated: st.UpdatedAt, Worker: st.Worker, Error: st.Error,
	}
	switch {
	case st.RecordsTotal > 0:
		r.ProgressValue, r.ProgressMax = min(st.RecordsSent, st.RecordsTotal), st.RecordsTotal
		r.Percent = int(r.ProgressValue * 100 / r.ProgressMax)
	case st.State == queue.StateSucceeded:
		r.ProgressValue, r.ProgressMax, r.Percent = 1, 1, 100
	default:
		r.ProgressValue, r.ProgressMax = 0, 1
	}
	if !st.StartedAt.IsZero() {
		end := st.FinishedAt
		if end.IsZero() || end.Before(st.StartedAt) {
			end = now
			if st.State == queue.StateSucceeded || st.State == queue.StateFailed {
				end = st.UpdatedAt
			}
		}
		r.Duration = formatDuration(end.Sub(st.StartedAt))
	}
	if !st.EnqueuedAt.IsZero() {
		r.EnqueuedAgo = formatDuration(now.Sub(st.EnqueuedAt)) + " ago"
	}
	return r
}

// formatDuration renders d compactly: "850ms", "12.3s", "4m05s", "2h10m".
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

type jobsData struct {
	State  string
	Domain string
	Limit  int
	Jobs   []jobRow
	Query  string // the filter as a query string, for the live refresh
}

func (d *Dashboard) handleJobs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := queue.Filter{State: q.Get("state"), Domain: q.Get("domain"), Limit: defaultJobsLimit}
	if f.State != "" && !slices.Contains(allStates, f.State) {
		return &errPage{status: http.StatusBadRequest, title: "Bad filter", detail: fmt.Sprintf("state is %q; want one of queued, running, retrying, succeeded, failed", f.State)}
	}
	if f.Domain != "" {
		if err := queue.ValidateDomain(f.Domain); err != nil {
			return &errPage{status: http.StatusBadRequest, title: "Bad filter", detail: err.Error(), err: err}
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxJobsLimit {
			return &errPage{status: http.StatusBadRequest, title: "Bad filter", detail: fmt.Sprintf("limit is %q; want an integer from 1 to %d", v, maxJobsLimit)}
		}
		f.Limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.cfg.RequestTimeout)
	defer cancel()
	list, err := d.q.ListStatus(ctx, f)
	if err != nil {
		return queueErr("Listing jobs", err)
	}
	data := jobsData{State: f.State, Domain: f.Domain, Limit: f.Limit, Jobs: make([]jobRow, 0, len(list))}
	for _, st := range list {
		data.Jobs = append(data.Jobs, d.row(st))
	}
	d.render(w, r, http.StatusOK, "jobs", data)
	return nil
}

type jobData struct {
	Job        jobRow
	Status     queue.Status
	History    []attemptRow
	Raw        string            // the status record as indented JSON
	DeadLetter *queue.DeadLetter // the job's dead letter, if it has one
	Finished   bool
}

type attemptRow struct {
	queue.Attempt
	Duration string
}

func (d *Dashboard) handleJob(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := wire.ValidateID("job id", id); err != nil {
		return &errPage{status: http.StatusNotFound, title: "No such job", detail: fmt.Sprintf("no job %q: %v", id, err)}
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.cfg.RequestTimeout)
	defer cancel()
	st, err := d.q.GetStatus(ctx, id)
	if err != nil {
		return queueErr(fmt.Sprintf("Job %q", id), err)
	}
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode status of job %s: %w", id, err)
	}
	data := jobData{Job: d.row(st), Status: st, Raw: string(raw),
		Finished: st.State == queue.StateSucceeded || st.State == queue.StateFailed}
	for _, a := range st.History {
		data.History = append(data.History, attemptRow{Attempt: a, Duration: formatDuration(a.FinishedAt.Sub(a.StartedAt))})
	}
	if st.State == queue.StateFailed {
		// The dead letter is what Replay acts on; a failure to read it only
		// hides the buttons.
		if dl, err := d.q.GetDeadLetter(ctx, id); err == nil {
			data.DeadLetter = &dl
		}
	}
	d.render(w, r, http.StatusOK, "job", data)
	return nil
}
