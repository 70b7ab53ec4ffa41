package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
)

func (d *Dashboard) handleCancel(w http.ResponseWriter, r *http.Request) error {
	id, err := jobID(r)
	if err != nil {
		return err
	}
	if r.PostFormValue("confirmed") != "yes" {
		d.render(w, r, http.StatusOK, "confirm", confirmData{Action: "cancel", JobID: id, FileName: r.PostFormValue("file_name"),
			Target: jobPath(id) + "/cancel"})
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.cfg.RequestTimeout)
	defer cancel()
	res, err := d.q.CancelJob(ctx, id)
	switch {
	case errors.Is(err, queue.ErrFinished):
		return &errPage{status: http.StatusConflict, title: "Already finished",
			detail: fmt.Sprintf("Job %q %s already: there is nothing to cancel.", id, res.Status.State), err: err}
	case err != nil:
		return queueErr(fmt.Sprintf("Canceling job %q", id), err)
	}
	d.log.Info().Str("job_id", id).Str("state", res.State).Bool("canceling", res.Canceling).Msg("job canceled from the dashboard")
	notice := "canceled"
	if res.Canceling {
		notice = "canceling"
	}
	http.Redirect(w, r, jobPath(id)+"?notice="+notice, http.StatusSeeOther)
	return nil
}

func jobID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if _, err := deadLetterID(r); err != nil {
		return "", &errPage{status: http.StatusNotFound, title: "No such job", detail: fmt.Sprintf("no job %q", id), err: err}
	}
	return id, nil
}

// queueData is the queue page: GET /queue's figures, per domain.
type queueData struct {
	httpapi.QueueView
	Domains []domainRow
}

type domainRow struct {
	Domain      string
	InStream    uint64
	DeadLetters uint64
	States      []stateCount
}

func (d *Dashboard) handleQueue(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), d.cfg.RequestTimeout)
	defer cancel()
	ix, err := d.index(ctx)
	if err != nil {
		return err
	}
	v, err := httpapi.LoadQueueView(ctx, d.q, ix, d.now())
	if err != nil {
		return queueErr("Reading the queue's figures", err)
	}
	data := queueData{QueueView: v}
	names := map[string]bool{}
	for n := range v.Stream.Domains {
		names[n] = true
	}
	for n := range v.DeadLetters.Domains {
		names[n] = true
	}
	for n := range v.Jobs.Domains {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		row := domainRow{Domain: n, InStream: v.Stream.Domains[n], DeadLetters: v.DeadLetters.Domains[n]}
		for _, s := range allStates {
			row.States = append(row.States, stateCount{State: s, Count: v.Jobs.Domains[n][s]})
		}
		data.Domains = append(data.Domains, row)
	}
	d.render(w, r, http.StatusOK, "queue", data)
	return nil
}

type workersData struct {
	Workers []workerRow
	TTL     string
}

type workerRow struct {
	queue.WorkerInfo
	Up        string
	Heartbeat string
	Busy      int
	Running   []workerJobRow
	Finished  []stateCount
}

type workerJobRow struct {
	queue.WorkerJob
	ShortID string
	For     string
}

func (d *Dashboard) handleWorkers(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), d.cfg.RequestTimeout)
	defer cancel()
	ws, err := d.q.ListWorkers(ctx)
	if err != nil {
		return queueErr("Reading the workers' heartbeats", err)
	}
	now := d.now()
	data := workersData{TTL: shortDuration(queue.WorkerTTL)}
	for _, wi := range ws {
		row := workerRow{WorkerInfo: wi, Up: formatDuration(now.Sub(wi.StartedAt)), Heartbeat: formatDuration(now.Sub(wi.HeartbeatAt)) + " ago", Busy: len(wi.Jobs)}
		for _, j := range wi.Jobs {
			row.Running = append(row.Running, workerJobRow{WorkerJob: j, ShortID: shortID(j.JobID), For: formatDuration(now.Sub(j.StartedAt))})
		}
		outcomes := make([]string, 0, len(wi.Finished))
		for o := range wi.Finished {
			outcomes = append(outcomes, o)
		}
		sort.Strings(outcomes)
		for _, o := range outcomes {
			row.Finished = append(row.Finished, stateCount{State: o, Count: int(wi.Finished[o])})
		}
		data.Workers = append(data.Workers, row)
	}
	d.render(w, r, http.StatusOK, "workers", data)
	return nil
}

type bulkOp string

const (
	bulkReplay bulkOp = "replay"
	bulkPurge  bulkOp = "purge"
)

// handleBulk replays or purges every dead letter the form's filter
// selects (domain, class, since), after a confirmation.
func (d *Dashboard) handleBulk(op bulkOp) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		form := url.Values{"all": {"true"}}
		for _, k := range []string{"domain", "class", "since", "until", "reason"} {
			if v := r.PostFormValue(k); v != "" {
				form.Set(k, v)
			}
		}
		f, err := httpapi.ParseDeadLetterFilter(form, d.now())
		if err != nil {
			return &errPage{status: http.StatusBadRequest, title: "Bad filter", detail: err.Error(), err: err}
		}
		if r.PostFormValue("confirmed") != "yes" {
			target := pathDLQ + "/" + string(op) + "-all"
			d.render(w, r, http.StatusOK, "confirm", confirmData{Action: string(op) + " all", Target: target, Filter: describeFilter(f), Fields: form})
			return nil
		}
		// A publish, a status write and a delete per job: more than one call.
		ctx, cancel := context.WithTimeout(r.Context(), 10*d.cfg.RequestTimeout)
		defer cancel()
		var res queue.BulkResult
		if op == bulkReplay {
			res, err = d.q.ReplayDeadLetters(ctx, f)
		} else {
			res, err = d.q.PurgeDeadLetters(ctx, f)
		}
		if err != nil {
			return queueErr("The bulk "+string(op), err)
		}
		d.log.Info().Str("op", string(op)).Str("filter", describeFilter(f)).Int("matched", res.Matched).Int("done", res.Done).
			Msg("dead letters handled in bulk from the dashboard")
		if res.Done < res.Matched {
			return &errPage{status: http.StatusInternalServerError, title: "Some dead letters were not handled",
				detail: fmt.Sprintf("%d of %d dead letters could not be %sd (first: %s). Retry the action.", res.Matched-res.Done, res.Matched, op, firstFailure(res))}
		}
		http.Redirect(w, r, pathDLQ+"?notice=bulk"+string(op)+"&n="+strconv.Itoa(res.Done), http.StatusSeeOther)
		return nil
	}
}

func firstFailure(res queue.BulkResult) string {
	if len(res.Failed) == 0 {
		return "unknown"
	}
	return res.Failed[0].JobID + ": " + res.Failed[0].Error
}

// describeFilter says in words what a dead-letter filter selects.
func describeFilter(f queue.DeadLetterFilter) string {
	s := "every dead letter"
	if f.Domain != "" {
		s += " of domain " + f.Domain
	}
	if f.Class != "" {
		s += " with error class " + f.Class
	}
	if f.Reason != "" {
		s += " with reason " + f.Reason
	}
	if !f.Since.IsZero() {
		s += " that failed since " + f.Since.Format(time.RFC3339)
	}
	if !f.Until.IsZero() {
		s += " that failed before " + f.Until.Format(time.RFC3339)
	}
	return s
}
