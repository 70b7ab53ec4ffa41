package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/wire"
)

// maxDeadLetters bounds the dead-letter list.
const maxDeadLetters = 500

// deadLetterRow is one dead letter as the page shows it.
type deadLetterRow struct {
	queue.DeadLetter
	FileName  string // from the original job message, when it is readable
	FailedAgo string
}

type dlqData struct {
	Domain      string
	DeadLetters []deadLetterRow
	Truncated   bool
	Classes     []string // the error classes the workers use, for the bulk form
}

func (d *Dashboard) handleDLQ(w http.ResponseWriter, r *http.Request) error {
	domain := r.URL.Query().Get("domain")
	if domain != "" {
		if err := queue.ValidateDomain(domain); err != nil {
			return &errPage{status: http.StatusBadRequest, title: "Bad filter", detail: err.Error(), err: err}
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.cfg.RequestTimeout)
	defer cancel()
	dls, err := d.q.ListDeadLetters(ctx, domain, maxDeadLetters+1)
	if err != nil {
		return queueErr("Listing dead letters", err)
	}
	data := dlqData{Domain: domain, Classes: errorClasses}
	if len(dls) > maxDeadLetters {
		dls, data.Truncated = dls[:maxDeadLetters], true
	}
	now := d.now()
	for _, dl := range dls {
		data.DeadLetters = append(data.DeadLetters, deadLetterRow{
			DeadLetter: dl, FileName: jobFileName(dl), FailedAgo: formatDuration(now.Sub(dl.FailedAt)) + " ago",
		})
	}
	d.render(w, r, http.StatusOK, "dlq", data)
	return nil
}

// jobFileName reads file_name from a dead letter's original job, or "" when
// the job is not readable JSON.
func jobFileName(dl queue.DeadLetter) string {
	var j struct {
		FileName string `json:"file_name"`
	}
	if len(dl.Job) == 0 || json.Unmarshal(dl.Job, &j) != nil {
		return ""
	}
	return j.FileName
}

// confirmData is the confirmation page of an action (replay, delete,
// cancel, or a bulk replay or purge), shown when the button was pressed
// without the script's confirmation (no JavaScript).
type confirmData struct {
	Action   string // "replay", "delete", "cancel", "replay all", "purge all"
	JobID    string // the job acted on, for a one-job action
	FileName string
	Filter   string     // what a bulk action selects, in words
	Fields   url.Values // a bulk action's filter, posted again
	Target   string     // the form's action URL
}

// confirmed reports whether a dead-letter action was confirmed; if not, it
// renders the confirmation page.
func (d *Dashboard) confirmed(w http.ResponseWriter, r *http.Request, action, id string) bool {
	if r.PostFormValue("confirmed") == "yes" {
		return true
	}
	d.render(w, r, http.StatusOK, "confirm", confirmData{
		Action: action, JobID: id, FileName: r.PostFormValue("file_name"),
		Target: pathDLQ + "/" + url.PathEscape(id) + "/" + action,
	})
	return false
}

func deadLetterID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if err := wire.ValidateID("job id", id); err != nil {
		return "", &errPage{status: http.StatusNotFound, title: "No such dead letter", detail: fmt.Sprintf("no dead letter %q: %v", id, err)}
	}
	return id, nil
}

func (d *Dashboard) handleReplay(w http.ResponseWriter, r *http.Request) error {
	id, err := deadLetterID(r)
	if err != nil || !d.confirmed(w, r, "replay", id) {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.cfg.RequestTimeout)
	defer cancel()
	res, err := d.q.ReplayDeadLetter(ctx, id)
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return &errPage{status: http.StatusNotFound, title: "No such dead letter", detail: fmt.Sprintf("no dead letter for job %q (replayed or deleted already?)", id), err: err}
	case errors.Is(err, queue.ErrQueueFull):
		return &errPage{status: http.StatusServiceUnavailable, title: "Queue full", detail: "the job queue is full; retry later", err: err}
	case err != nil:
		return queueErr(fmt.Sprintf("Replaying job %q", id), err)
	}
	d.log.Info().Str("job_id", res.JobID).Bool("duplicate", res.Duplicate).Msg("dead letter replayed from the dashboard")
	http.Redirect(w, r, jobPath(res.JobID)+"?notice=replayed", http.StatusSeeOther)
	return nil
}

func (d *Dashboard) handleDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := deadLetterID(r)
	if err != nil || !d.confirmed(w, r, "delete", id) {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.cfg.RequestTimeout)
	defer cancel()
	if err := d.q.DeleteDeadLetter(ctx, id); err != nil {
		if errors.Is(err, queue.ErrNotFound) {
			return &errPage{status: http.StatusNotFound, title: "No such dead letter", detail: fmt.Sprintf("no dead letter for job %q", id), err: err}
		}
		return queueErr(fmt.Sprintf("Deleting the dead letter of job %q", id), err)
	}
	d.log.Info().Str("job_id", id).Msg("dead letter deleted from the dashboard")
	http.Redirect(w, r, pathDLQ+"?notice=deleted", http.StatusSeeOther)
	return nil
}

func jobPath(id string) string { return pathJobs + "/" + url.PathEscape(id) }

// errorClasses are the error classes a dead letter may carry (those of
// ingest.Classify that end in a dead letter), offered by the bulk form.
var errorClasses = []string{"bad_job", "unknown_domain", "unsafe_path", "file_not_found", "bad_pickle", "validation",
	"server_rejected", "server_unavailable", "io", "nats", "max_deliveries", "internal"}
