package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
)

type enqueueData struct {
	Domain   string
	FileName string
	Source   string
	Error    string
	Field    string // the field the error is about: "domain", "file_name" or ""
}

func (d *Dashboard) handleEnqueueForm(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	d.render(w, r, http.StatusOK, "enqueue", enqueueData{Domain: q.Get("domain"), FileName: q.Get("file_name"), Source: queue.SourceFile})
	return nil
}

func (d *Dashboard) handleEnqueue(w http.ResponseWriter, r *http.Request) error {
	form := enqueueData{
		Domain:   r.PostFormValue("domain"),
		FileName: r.PostFormValue("file_name"),
		Source:   r.PostFormValue("source"),
	}
	if form.Source == "" {
		form.Source = queue.SourceFile
	}
	job, ce := d.checkJob(form.Domain, form.FileName, form.Source)
	if ce != nil {
		form.Error, form.Field = ce.Message, ce.Field
		d.render(w, r, ce.Status, "enqueue", form)
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.cfg.RequestTimeout)
	defer cancel()
	res, err := d.q.Enqueue(ctx, job)
	out, err := httpapi.EnqueueOutcome(res, err, &d.log)
	switch {
	case errors.Is(err, queue.ErrQueueFull):
		form.Error = "the job queue is full; retry later"
		d.render(w, r, http.StatusServiceUnavailable, "enqueue", form)
		return nil
	case errors.Is(err, queue.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		d.log.Error().Err(err).Str("domain", job.Domain).Msg("enqueue from the dashboard failed")
		form.Error = "the job queue (NATS) is unavailable or did not confirm in time; retry later"
		d.render(w, r, http.StatusServiceUnavailable, "enqueue", form)
		return nil
	case err != nil:
		return fmt.Errorf("enqueue %s job for %q: %w", job.Domain, job.FileName, err)
	}
	d.log.Info().Str("job_id", out.JobID).Str("domain", out.Domain).Str("file_name", out.FileName).
		Bool("duplicate", out.Duplicate).Msg("job enqueued from the dashboard")
	notice := "enqueued"
	if out.Duplicate {
		notice = "duplicate"
	}
	http.Redirect(w, r, jobPath(out.JobID)+"?notice="+notice, http.StatusSeeOther)
	return nil
}

// checkJob validates an enqueue form with the API's own checks
// (httpapi.CheckJob): the same status codes and messages, and the field at
// fault. A failure to read the data directory is logged, not shown: its
// text names server paths.
func (d *Dashboard) checkJob(domain, fileName, src string) (queue.Job, *httpapi.JobCheckError) {
	job, err := httpapi.CheckJob(queue.Job{Domain: domain, FileName: fileName, Source: src},
		httpapi.JobRules{Domains: d.domains.Names(), AllowedExt: d.cfg.AllowedExt, DataDir: d.cfg.DataDir})
	var ce *httpapi.JobCheckError
	switch {
	case err == nil:
		return job, nil
	case errors.As(err, &ce):
		return queue.Job{}, ce
	default:
		d.log.Error().Err(err).Str("domain", domain).Str("file_name", fileName).Msg("dashboard: checking a job's file failed")
		return queue.Job{}, &httpapi.JobCheckError{Status: http.StatusInternalServerError, Code: httpapi.CodeInternal, Field: "file_name",
			Message: "the data directory could not be read to check this file; see the publisher's log", Err: err}
	}
}
