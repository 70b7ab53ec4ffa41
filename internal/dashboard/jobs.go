package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/jobindex"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/wire"
)

// allStates are the job states, in the order a job goes through them.
var allStates = queue.States()

// defaultJobsLimit is the jobs list's page size unless the query says.
const defaultJobsLimit = 100

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
	Phase         string
	Acked         uint64
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
		Attempts: st.Attempts, Sent: st.RecordsSent, Total: st.RecordsTotal, Phase: st.Phase, Acked: st.RecordsAcked,
		Enqueued: st.EnqueuedAt, Updated: st.UpdatedAt, Worker: st.Worker, Error: st.Error,
	}
	switch {
	case st.State == queue.StateSucceeded && st.RecordsTotal > 0:
		r.ProgressValue, r.ProgressMax, r.Percent = st.RecordsTotal, st.RecordsTotal, 100
	case st.RecordsTotal > 0:
		// Records sent; the bar is full, and says 100 %, only once the
		// batch server acknowledged them (the job succeeded).
		r.ProgressValue, r.ProgressMax = min(st.RecordsSent, st.RecordsTotal), st.RecordsTotal
		r.Percent = int(r.ProgressValue * 100 / r.ProgressMax)
		if r.ProgressValue == r.ProgressMax {
			r.ProgressValue, r.Percent = r.ProgressMax-1, 99
		}
	case st.State == queue.StateSucceeded:
		r.ProgressValue, r.ProgressMax, r.Percent = 1, 1, 100
	default:
		r.ProgressValue, r.ProgressMax = 0, 1
	}
	if !st.StartedAt.IsZero() {
		end := st.FinishedAt
		if end.IsZero() || end.Before(st.StartedAt) {
			end = now
			if queue.Finished(st.State) {
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
	Text   string // q: job id or file name
	Since  string
	Until  string
	Limit  int
	Jobs   []jobRow
	// Matching is how many jobs the filter selects, when the index can
	// tell without reading them (state and domain filters only); -1
	// otherwise.
	Matching int
	Next     string // the next page's URL, or ""
	First    string // the first page's URL when this is a later one, or ""
	Partial  bool   // a text search stopped after reading its budget
}

func (d *Dashboard) handleJobs(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	q, err := httpapi.ParseJobQuery(v, d.now())
	if err != nil {
		return &errPage{status: http.StatusBadRequest, title: "Bad filter", detail: err.Error(), err: err}
	}
	if v.Get("limit") == "" {
		q.Limit = defaultJobsLimit
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.cfg.RequestTimeout)
	defer cancel()
	ix, err := d.index(ctx)
	if err != nil {
		return err
	}
	page, err := ix.List(ctx, q)
	if errors.Is(err, jobindex.ErrBadCursor) {
		return &errPage{status: http.StatusBadRequest, title: "Bad page", detail: "This page link is not one the dashboard made; start from the first page.", err: err}
	}
	if err != nil {
		return queueErr("Listing jobs", err)
	}
	data := jobsData{
		State: q.State, Domain: q.Domain, Text: q.Text, Since: v.Get("since"), Until: v.Get("until"), Limit: q.Limit,
		Jobs: make([]jobRow, 0, len(page.Jobs)), Matching: -1, Partial: page.Partial,
	}
	for _, st := range page.Jobs {
		data.Jobs = append(data.Jobs, d.row(st))
	}
	if q.Text == "" && q.ID == "" && q.File == "" && q.Since.IsZero() && q.Until.IsZero() {
		if c, err := ix.Counts(ctx); err == nil {
			data.Matching = matching(c, q.State, q.Domain)
		}
	}
	link := func(cursor string) string {
		u := url.Values{}
		for _, k := range []string{"state", "domain", "q", "id", "file", "since", "until", "limit"} {
			if val := v.Get(k); val != "" {
				u.Set(k, val)
			}
		}
		if cursor != "" {
			u.Set("cursor", cursor)
		}
		if len(u) == 0 {
			return pathJobs
		}
		return pathJobs + "?" + u.Encode()
	}
	if page.Next != "" {
		data.Next = link(page.Next)
	}
	if q.Cursor != "" {
		data.First = link("")
	}
	d.render(w, r, http.StatusOK, "jobs", data)
	return nil
}

// matching is how many jobs a state and domain filter selects.
func matching(c jobindex.Counts, state, domain string) int {
	switch {
	case state != "" && domain != "":
		return c.Domains[domain][state]
	case state != "":
		return c.States[state]
	case domain != "":
		n := 0
		for _, k := range c.Domains[domain] {
			n += k
		}
		return n
	}
	return c.Total
}

type jobData struct {
	Job        jobRow
	Status     queue.Status
	Pace       queue.Pace
	Retry      *queue.Retrying
	PhaseFor   string // how long the current phase has lasted
	Elapsed    string
	Rate       string // records/s
	ETA        string
	History    []attemptRow
	Raw        string            // the status record as indented JSON
	DeadLetter *queue.DeadLetter // the job's dead letter, if it has one
	Finished   bool
	Cancelable bool // queued, running or retrying, and not asked to cancel yet
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
	now := d.now()
	pace := st.Pace(now)
	data := jobData{Job: d.row(st), Status: st, Pace: pace, Retry: st.Retrying(now), Raw: string(raw),
		Finished:   queue.Finished(st.State),
		Cancelable: !queue.Finished(st.State) && st.CancelRequestedAt.IsZero()}
	if st.Phase != "" && !st.PhaseSince.IsZero() {
		data.PhaseFor = formatDuration(now.Sub(st.PhaseSince))
	}
	if pace.ElapsedSeconds > 0 {
		data.Elapsed = formatDuration(time.Duration(pace.ElapsedSeconds * float64(time.Second)))
	}
	if pace.RecordsPerSecond > 0 {
		data.Rate = formatRate(pace.RecordsPerSecond)
	}
	if pace.ETASeconds != nil {
		data.ETA = formatDuration(time.Duration(*pace.ETASeconds * float64(time.Second)))
	}
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
