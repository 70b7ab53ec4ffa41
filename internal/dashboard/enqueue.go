package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/source"
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
	job, fe := d.checkJob(form.Domain, form.FileName, form.Source)
	if fe != nil {
		form.Error, form.Field = fe.message, fe.field
		d.render(w, r, fe.status, "enqueue", form)
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

// formError is a refused enqueue form: the status and message the API
// answers for the same input, and the field at fault.
type formError struct {
	status  int
	field   string
	message string
}

// checkJob validates an enqueue form by the API's rules, with its status
// codes and messages (internal/httpapi: checkDomain, checkFileName,
// parseIngest, checkDataFile): unknown domain 404; missing file name,
// unsafe path, wrong extension or bad job 400; a file missing from a
// visible DATA_DIR 422.
func (d *Dashboard) checkJob(domain, fileName, src string) (queue.Job, *formError) {
	if names := d.domains.Names(); !slices.Contains(names, domain) {
		return queue.Job{}, &formError{http.StatusNotFound, "domain",
			fmt.Sprintf("unknown domain %q (known domains: %s)", domain, strings.Join(names, ", "))}
	}
	if src != queue.SourceFile && src != queue.SourceObject {
		return queue.Job{}, &formError{http.StatusBadRequest, "source",
			fmt.Sprintf("source is %q; want %q or %q", src, queue.SourceFile, queue.SourceObject)}
	}
	if fileName == "" {
		return queue.Job{}, &formError{http.StatusBadRequest, "file_name", "file_name is missing or empty"}
	}
	if err := source.CheckName(fileName, d.cfg.AllowedExt); err != nil {
		return queue.Job{}, &formError{http.StatusBadRequest, "file_name", err.Error()}
	}
	job := queue.Job{Domain: domain, FileName: fileName, Source: src}
	if err := job.Validate(); err != nil {
		return queue.Job{}, &formError{http.StatusBadRequest, "file_name", err.Error()}
	}
	if src == queue.SourceFile && d.dataDirVisible() {
		_, err := source.ResolveFile(d.cfg.DataDir, fileName)
		switch {
		case err == nil:
		case errors.Is(err, source.ErrUnsafePath):
			return queue.Job{}, &formError{http.StatusBadRequest, "file_name", err.Error()}
		case errors.Is(err, source.ErrNotFound):
			return queue.Job{}, &formError{http.StatusUnprocessableEntity, "file_name",
				fmt.Sprintf("file %q does not exist in the data directory", fileName)}
		default:
			return queue.Job{}, &formError{http.StatusInternalServerError, "file_name",
				fmt.Sprintf("check %q in the data directory: %v", fileName, err)}
		}
	}
	return job, nil
}

func (d *Dashboard) dataDirVisible() bool {
	if d.cfg.DataDir == "" {
		return false
	}
	fi, err := os.Stat(d.cfg.DataDir)
	return err == nil && fi.IsDir()
}
