package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/embedstream/embedstream/internal/clip"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/source"
)

// JobRules are what [CheckJob] checks a job against: the settings the API
// and the dashboard share.
type JobRules struct {
	// Domains are the known domain names.
	Domains []string
	// AllowedExt lists the file extensions a job may name (empty:
	// [DefaultAllowedExt]).
	AllowedExt []string
	// DataDir is the workers' data directory as the publisher sees it.
	// When it names an existing directory, a job of source "file" must name
	// a file in it; otherwise that check is left to the worker.
	DataDir string
}

// JobCheckError is a job refused by [CheckJob]: the HTTP status, error code
// and message the API answers with, and the job field at fault.
type JobCheckError struct {
	Status  int    // e.g. http.StatusBadRequest
	Code    string // e.g. [CodeUnsafePath]
	Field   string // "domain", "source", "file_name", "options", or "" for the job as a whole
	Message string // safe to show to the user
	Err     error  // the cause, for logs; may be nil
}

func (e *JobCheckError) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *JobCheckError) Unwrap() error { return e.Err }

// CheckJob applies the API's checks to a job about to be enqueued, in the
// API's order and with its messages, so every front end refuses the same
// jobs in the same words: unknown domain (404), bad source, missing,
// unsafe or wrongly suffixed file name, a job queue.Job.Validate refuses
// (400), and a file missing from a visible data directory (422). It returns
// the job with Source defaulted to "file".
//
// A refusal is a [*JobCheckError]. Any other error is a failure to read the
// data directory: an internal error whose text must not be shown to users.
func CheckJob(job queue.Job, rules JobRules) (queue.Job, error) {
	if err := checkDomain(job.Domain, rules.Domains); err != nil {
		return queue.Job{}, err
	}
	if job.Source == "" {
		job.Source = queue.SourceFile
	}
	if job.Source != queue.SourceFile && job.Source != queue.SourceObject {
		return queue.Job{}, refuse(http.StatusBadRequest, CodeBadRequest, "source", nil,
			"source is %s; want %q or %q", clip.Quote(job.Source), queue.SourceFile, queue.SourceObject)
	}
	allowed := rules.AllowedExt
	if len(allowed) == 0 {
		allowed = DefaultAllowedExt()
	}
	if err := checkFileName(job.FileName, allowed); err != nil {
		return queue.Job{}, err
	}
	// options and lengths, as the worker will check them
	if err := job.Validate(); err != nil {
		field, bare := "options", job
		bare.Options = queue.JobOptions{}
		if bare.Validate() != nil {
			field = "file_name"
		}
		return queue.Job{}, &JobCheckError{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: field, Message: err.Error(), Err: err}
	}
	if job.Source == queue.SourceFile {
		if err := checkDataFile(job.FileName, rules.DataDir); err != nil {
			return queue.Job{}, err
		}
	}
	return job, nil
}

func refuse(status int, code, field string, err error, format string, args ...any) *JobCheckError {
	return &JobCheckError{Status: status, Code: code, Field: field, Message: fmt.Sprintf(format, args...), Err: err}
}

// checkDomain refuses a domain that is not one of names.
func checkDomain(domain string, names []string) error {
	if slices.Contains(names, domain) {
		return nil
	}
	return refuse(http.StatusNotFound, CodeUnknownDomain, "domain", nil,
		"unknown domain %s (known domains: %s)", clip.Quote(domain), strings.Join(names, ", "))
}

// checkFileName refuses an empty, unsafe or wrongly suffixed file name.
func checkFileName(name string, allowed []string) error {
	if name == "" {
		return refuse(http.StatusBadRequest, CodeMissingFileName, "file_name", nil,
			"file_name is missing or empty: pass ?file_name=<name> or a JSON body {\"file_name\": \"<name>\"}")
	}
	err := source.CheckName(name, allowed)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, source.ErrUnsafePath):
		return &JobCheckError{Status: http.StatusBadRequest, Code: CodeUnsafePath, Field: "file_name", Message: err.Error(), Err: err}
	case errors.Is(err, source.ErrBadExtension):
		return &JobCheckError{Status: http.StatusBadRequest, Code: CodeExtension, Field: "file_name", Message: err.Error(), Err: err}
	default:
		return &JobCheckError{Status: http.StatusBadRequest, Code: CodeBadRequest, Field: "file_name", Message: err.Error(), Err: err}
	}
}

// checkDataFile resolves name in dataDir when the publisher can see it: a
// name escaping it is a 400, a missing file a 422.
func checkDataFile(name, dataDir string) error {
	if !dirVisible(dataDir) {
		return nil
	}
	_, err := source.ResolveFile(dataDir, name)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, source.ErrUnsafePath):
		return &JobCheckError{Status: http.StatusBadRequest, Code: CodeUnsafePath, Field: "file_name", Message: err.Error(), Err: err}
	case errors.Is(err, source.ErrNotFound):
		return refuse(http.StatusUnprocessableEntity, CodeFileNotFound, "file_name", err,
			"file %q does not exist in the data directory", name)
	default:
		return fmt.Errorf("check %q in the data directory: %w", name, err)
	}
}

// dirVisible reports whether dir names an existing directory.
func dirVisible(dir string) bool {
	if dir == "" {
		return false
	}
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}
