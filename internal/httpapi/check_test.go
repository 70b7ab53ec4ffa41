package httpapi_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
)

// CheckJob is the API's job check, shared with the dashboard: refusals are
// *JobCheckError with the API's status, code and the field at fault; a
// failure to read the data directory is an internal error, not a refusal.
func TestCheckJob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "present.pkl"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	rules := httpapi.JobRules{Domains: []string{"recruit"}, DataDir: dir}
	for _, tc := range []struct {
		name   string
		job    queue.Job
		status int
		code   string
		field  string
	}{
		{"unknown domain", queue.Job{Domain: "nope", FileName: "present.pkl"}, http.StatusNotFound, httpapi.CodeUnknownDomain, "domain"},
		{"bad source", queue.Job{Domain: "recruit", FileName: "present.pkl", Source: "ftp"}, http.StatusBadRequest, httpapi.CodeBadRequest, "source"},
		{"no file name", queue.Job{Domain: "recruit"}, http.StatusBadRequest, httpapi.CodeMissingFileName, "file_name"},
		{"unsafe", queue.Job{Domain: "recruit", FileName: "../x.pkl"}, http.StatusBadRequest, httpapi.CodeUnsafePath, "file_name"},
		{"extension", queue.Job{Domain: "recruit", FileName: "x.csv"}, http.StatusBadRequest, httpapi.CodeExtension, "file_name"},
		{"options", queue.Job{Domain: "recruit", FileName: "present.pkl", Options: queue.JobOptions{ChunkRecords: -1}}, http.StatusBadRequest, httpapi.CodeBadRequest, "options"},
		{"missing file", queue.Job{Domain: "recruit", FileName: "absent.pkl"}, http.StatusUnprocessableEntity, httpapi.CodeFileNotFound, "file_name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := httpapi.CheckJob(tc.job, rules)
			var ce *httpapi.JobCheckError
			if !errors.As(err, &ce) {
				t.Fatalf("CheckJob: %v, want a *JobCheckError", err)
			}
			if ce.Status != tc.status || ce.Code != tc.code || ce.Field != tc.field || ce.Message == "" {
				t.Errorf("CheckJob: %d %s field %q %q, want %d %s field %q", ce.Status, ce.Code, ce.Field, ce.Message, tc.status, tc.code, tc.field)
			}
		})
	}
	job, err := httpapi.CheckJob(queue.Job{Domain: "recruit", FileName: "present.pkl"}, rules)
	if err != nil || job.Source != queue.SourceFile {
		t.Errorf("valid job: %+v, %v; want source %q and no error", job, err, queue.SourceFile)
	}
	// The object store's names are not looked up in the data directory.
	if _, err := httpapi.CheckJob(queue.Job{Domain: "recruit", FileName: "absent.pkl", Source: queue.SourceObject}, rules); err != nil {
		t.Errorf("object job: %v", err)
	}
	// A path through a regular file fails with ENOTDIR: internal, not a
	// refusal whose message would be shown.
	_, err = httpapi.CheckJob(queue.Job{Domain: "recruit", FileName: "present.pkl/x.pkl"}, rules)
	var ce *httpapi.JobCheckError
	if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "data directory") {
		t.Errorf("unreadable path: %v, want an internal error", err)
	}
}
