package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

const seedPath = "/data/ingest/recruit?file_name=processed_recruitment_data.pkl"

// The original service's call, verbatim: no body, accept: application/json.
func TestIngestSeedCall(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	r := b.do(t, http.MethodPost, seedPath, nil, header{"accept": "application/json"})
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", r.status, r.body)
	}
	var got httpapi.EnqueueResponse
	r.json(t, &got)
	if got.JobID == "" || got.Domain != "recruit" || got.FileName != "processed_recruitment_data.pkl" || got.Source != "file" {
		t.Errorf("body %+v", got)
	}
	if want := "/jobs/" + got.JobID; r.header.Get("Location") != want || got.StatusURL != want {
		t.Errorf("Location %q, status_url %q, want %q", r.header.Get("Location"), got.StatusURL, want)
	}
	if n := b.streamMsgs(t); n != 1 {
		t.Errorf("job stream holds %d messages, want 1", n)
	}
	var st queue.Status
	r = b.do(t, http.MethodGet, got.StatusURL, nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", got.StatusURL, r.status, r.body)
	}
	r.json(t, &st)
	if st.State != queue.StateQueued || st.JobID != got.JobID || st.Domain != "recruit" {
		t.Errorf("status %+v, want queued", st)
	}
	if r.header.Get(httpapi.HeaderRequestID) == "" {
		t.Error("no X-Request-Id on the response")
	}
}

func TestIngestJSONBody(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	body := `{"file_name": "processed_recruitment_data.pkl", "source": "file", "options": {"chunk_records": 100}}`
	r := b.do(t, http.MethodPost, "/data/ingest/recruit", strings.NewReader(body), header{"Content-Type": "application/json"})
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", r.status, r.body)
	}
	var got httpapi.EnqueueResponse
	r.json(t, &got)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := queuetest.JetStream(t, b.nats).Stream(ctx, queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetLastMsgForSubject(ctx, "ingest.jobs.recruit")
	if err != nil {
		t.Fatal(err)
	}
	job, err := queue.ParseJob(msg.Subject, msg.Header, msg.Data, msg.Sequence, msg.Time)
	if err != nil {
		t.Fatalf("the enqueued message does not parse as a job: %v", err)
	}
	if job.ID != got.JobID || job.Options.ChunkRecords != 100 || job.FileName != "processed_recruitment_data.pkl" {
		t.Errorf("job %+v", job)
	}
	if msg.Header.Get(queue.HeaderMsgID) != got.JobID {
		t.Errorf("Nats-Msg-Id %q, want the job id %q", msg.Header.Get(queue.HeaderMsgID), got.JobID)
	}
}

// Each validation error answers its status and code, and enqueues nothing.
func TestIngestValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret.pkl"), "x")
	if err := os.Symlink(filepath.Join(outside, "secret.pkl"), filepath.Join(b.dataDir, "link.pkl")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, body string
		h                        header
		status                   int
		code, msgHas             string
	}{
		{"unknown domain", "POST", "/data/ingest/nope?file_name=processed_recruitment_data.pkl", "", nil, 404, httpapi.CodeUnknownDomain, "candidate, recruit"},
		{"missing file_name", "POST", "/data/ingest/recruit", "", nil, 400, httpapi.CodeMissingFileName, "file_name"},
		{"empty file_name", "POST", "/data/ingest/recruit?file_name=", "", nil, 400, httpapi.CodeMissingFileName, "file_name"},
		{"empty file_name in body", "POST", "/data/ingest/recruit", `{"file_name": ""}`, nil, 400, httpapi.CodeMissingFileName, "file_name"},
		{"absolute path", "POST", "/data/ingest/recruit?file_name=/etc/passwd.pkl", "", nil, 400, httpapi.CodeUnsafePath, ""},
		{"dot dot", "POST", "/data/ingest/recruit?file_name=../x.pkl", "", nil, 400, httpapi.CodeUnsafePath, ""},
		{"dot dot inside", "POST", "/data/ingest/recruit?file_name=a/../../x.pkl", "", nil, 400, httpapi.CodeUnsafePath, ""},
		{"symlink out of the data dir", "POST", "/data/ingest/recruit?file_name=link.pkl", "", nil, 400, httpapi.CodeUnsafePath, ""},
		{"extension", "POST", "/data/ingest/recruit?file_name=data.csv", "", nil, 400, httpapi.CodeExtension, ".pkl"},
		{"missing file", "POST", "/data/ingest/recruit?file_name=absent.pkl", "", nil, 422, httpapi.CodeFileNotFound, "absent.pkl"},
		{"bad idempotency key", "POST", seedPath, "", header{"Idempotency-Key": "has space"}, 400, httpapi.CodeInvalidID, "Idempotency-Key"},
		{"idempotency key too long", "POST", seedPath, "", header{"Idempotency-Key": strings.Repeat("k", 201)}, 400, httpapi.CodeInvalidID, "Idempotency-Key"},
		{"body not JSON", "POST", "/data/ingest/recruit", `file_name=x.pkl`, nil, 400, httpapi.CodeBadRequest, "JSON"},
		{"unknown body field", "POST", "/data/ingest/recruit", `{"file_name": "processed_recruitment_data.pkl", "priority": 1}`, nil, 400, httpapi.CodeBadRequest, "priority"},
		{"trailing data", "POST", "/data/ingest/recruit", `{"file_name": "processed_recruitment_data.pkl"} {}`, nil, 400, httpapi.CodeBadRequest, ""},
		{"bad source", "POST", "/data/ingest/recruit", `{"file_name": "processed_recruitment_data.pkl", "source": "s3"}`, nil, 400, httpapi.CodeBadRequest, "source"},
		{"bad options", "POST", "/data/ingest/recruit", `{"file_name": "processed_recruitment_data.pkl", "options": {"chunk_bytes": 1}}`, nil, 400, httpapi.CodeBadRequest, "chunk_bytes"},
		{"conflicting file names", "POST", seedPath, `{"file_name": "other.pkl"}`, nil, 400, httpapi.CodeBadRequest, "file_name"},
		{"body too large", "POST", "/data/ingest/recruit", `{"file_name": "` + strings.Repeat("a", 70<<10) + `.pkl"}`, nil, 413, httpapi.CodeTooLarge, "limit"},
		{"wrong method", "GET", "/data/ingest/recruit", "", nil, 405, httpapi.CodeMethod, "POST"},
		{"unknown route", "GET", "/nope", "", nil, 404, httpapi.CodeNotFound, "/nope"},
		{"unknown job", "GET", "/jobs/no-such-job", "", nil, 404, httpapi.CodeNotFound, "no-such-job"},
		{"bad state filter", "GET", "/jobs?state=done", "", nil, 400, httpapi.CodeBadRequest, "state"},
		{"bad limit", "GET", "/jobs?limit=0", "", nil, 400, httpapi.CodeBadRequest, "limit"},
		{"unknown dead letter", "POST", "/dlq/no-such-job/replay", "", nil, 404, httpapi.CodeNotFound, "no-such-job"},
		{"delete unknown dead letter", "DELETE", "/dlq/no-such-job", "", nil, 404, httpapi.CodeNotFound, "no-such-job"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			r := b.do(t, tt.method, tt.path, body, tt.h)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			code, msg := r.apiErr(t)
			if code != tt.code || !strings.Contains(msg, tt.msgHas) {
				t.Errorf("error %s %q, want code %s and a message containing %q", code, msg, tt.code, tt.msgHas)
			}
		})
	}
	if n := b.streamMsgs(t); n != 0 {
		t.Errorf("job stream holds %d messages after only invalid requests, want 0", n)
	}
	r := b.do(t, http.MethodGet, "/jobs", nil, nil)
	var list httpapi.JobList
	r.json(t, &list)
	if len(list.Jobs) != 0 {
		t.Errorf("%d status records after only invalid requests, want 0", len(list.Jobs))
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	const key = "client-retry-7:a"
	var ids []string
	for i := range 3 {
		r := b.do(t, http.MethodPost, seedPath, nil, header{"Idempotency-Key": key})
		if r.status != http.StatusAccepted {
			t.Fatalf("POST %d: status %d: %s", i, r.status, r.body)
		}
		var got httpapi.EnqueueResponse
		r.json(t, &got)
		if got.Duplicate != (i > 0) {
			t.Errorf("POST %d: duplicate=%v", i, got.Duplicate)
		}
		ids = append(ids, got.JobID)
	}
	if ids[0] != key || ids[1] != key || ids[2] != key {
		t.Errorf("job ids %q, want all %q", ids, key)
	}
	if n := b.streamMsgs(t); n != 1 {
		t.Errorf("job stream holds %d messages, want 1", n)
	}
}

// A key already naming another job (domain, file_name or source) is a 409
// naming the stored job; nothing is enqueued.
func TestIdempotencyConflict(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	writeFile(t, filepath.Join(b.dataDir, "other.pkl"), "pickle bytes")
	const key = "client-key-9"
	r := b.do(t, http.MethodPost, seedPath, nil, header{"Idempotency-Key": key})
	if r.status != http.StatusAccepted {
		t.Fatalf("first POST: %d %s", r.status, r.body)
	}
	for _, path := range []string{
		"/data/ingest/candidate?file_name=processed_recruitment_data.pkl",
		"/data/ingest/recruit?file_name=other.pkl",
		"/data/ingest/recruit?file_name=processed_recruitment_data.pkl&source=object",
	} {
		r := b.do(t, http.MethodPost, path, nil, header{"Idempotency-Key": key})
		if r.status != http.StatusConflict {
			t.Fatalf("POST %s: status %d: %s", path, r.status, r.body)
		}
		code, msg := r.apiErr(t)
		if code != httpapi.CodeIdempotencyConflict || !strings.Contains(msg, `recruit job for "processed_recruitment_data.pkl" (source file)`) {
			t.Errorf("POST %s: %s: %s", path, code, msg)
		}
	}
	// The same job again is still a plain duplicate, answered with the
	// stored job.
	r = b.do(t, http.MethodPost, "/data/ingest/recruit", strings.NewReader(`{"file_name": "processed_recruitment_data.pkl"}`), header{"Idempotency-Key": key})
	var got httpapi.EnqueueResponse
	r.json(t, &got)
	if r.status != http.StatusAccepted || !got.Duplicate || got.Domain != "recruit" || got.FileName != "processed_recruitment_data.pkl" || got.Source != queue.SourceFile {
		t.Errorf("repeat: %d %+v", r.status, got)
	}
	if n := b.streamMsgs(t); n != 1 {
		t.Errorf("job stream holds %d messages, want 1", n)
	}
}

// A JSON body that stops arriving is answered 408 once ReadTimeout passed,
// instead of holding the connection.
func TestSlowBodyTimesOut(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	api := httpapi.New(httpapi.Config{ReadTimeout: 100 * time.Millisecond}, b.q, domainNames{"recruit"}, testLogger(t))
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// Promise 100 bytes, send a few, then stall.
	if _, err := io.WriteString(conn, "POST /data/ingest/recruit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"file_name\""); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), httpapi.CodeTimeout) {
		t.Fatalf("stalled body: %d %s, want 408 %s", resp.StatusCode, body, httpapi.CodeTimeout)
	}
}

// An upload is exempt from ReadTimeout: even with a deadline that has
// passed before the handler runs, a 1 MiB body streams in.
func TestUploadIgnoresReadTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	api := httpapi.New(httpapi.Config{ReadTimeout: time.Nanosecond}, b.q, domainNames{"recruit"}, testLogger(t))
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	body := bytes.Repeat([]byte("x"), 1<<20)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL+"/files/big.pkl", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, got)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	const token = "s3cret-token"
	t.Run("on", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{token: token})
		for _, h := range []header{
			{"Authorization": ""},
			{"Authorization": "Bearer wrong"},
			{"Authorization": "Bearer " + token + "x"},
			{"Authorization": "Basic " + token},
			{"Authorization": token},
		} {
			for _, route := range []struct{ method, path string }{{"POST", seedPath}, {"GET", "/jobs"}, {"GET", "/metrics"}, {"GET", "/dlq"}, {"PUT", "/files/a.pkl"}, {"GET", "/nope"}} {
				r := b.do(t, route.method, route.path, nil, h)
				if r.status != http.StatusUnauthorized {
					t.Errorf("%s %s with %q: status %d, want 401", route.method, route.path, h["Authorization"], r.status)
					continue
				}
				if code, _ := r.apiErr(t); code != httpapi.CodeUnauthorized {
					t.Errorf("code %s", code)
				}
				if r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
		}
		if n := b.streamMsgs(t); n != 0 {
			t.Errorf("unauthorized requests enqueued %d jobs", n)
		}
		for _, p := range []string{"/healthz", "/readyz"} {
			if r := b.do(t, http.MethodGet, p, nil, header{"Authorization": ""}); r.status != http.StatusOK {
				t.Errorf("GET %s without a token: %d, want 200", p, r.status)
			}
		}
		if r := b.do(t, http.MethodPost, seedPath, nil, header{"Authorization": "bearer " + token}); r.status != http.StatusAccepted {
			t.Errorf("POST with the token: %d %s", r.status, r.body)
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		if r := b.do(t, http.MethodPost, seedPath, nil, nil); r.status != http.StatusAccepted {
			t.Errorf("POST without a token: %d %s", r.status, r.body)
		}
		if r := b.do(t, http.MethodGet, "/jobs", nil, header{"Authorization": "Bearer whatever"}); r.status != http.StatusOK {
			t.Errorf("GET /jobs with a stray token: %d %s", r.status, r.body)
		}
	})
}

func TestPutFile(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{maxUpload: 1 << 20})
	data := bytes.Repeat([]byte("embedstream "), 50_000) // 600 KB: several object store chunks
	sum := sha256.Sum256(data)
	r := b.do(t, http.MethodPut, "/files/upload.pkl", bytes.NewReader(data), nil)
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var got httpapi.FileResponse
	r.json(t, &got)
	if got.Name != "upload.pkl" || got.Size != int64(len(data)) || got.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("got %+v, want size %d sha256 %x", got, len(data), sum)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, _, err := b.q.OpenFile(ctx, "upload.pkl")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil || !bytes.Equal(stored, data) {
		t.Fatalf("stored object differs (err %v, %d bytes)", err, len(stored))
	}

	big := bytes.Repeat([]byte("x"), 1<<20+1)
	// With a Content-Length, refused before reading; without one (chunked),
	// cut off while streaming.
	r = b.do(t, http.MethodPut, "/files/big.pkl", bytes.NewReader(big), nil)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("too large with Content-Length: %d %s", r.status, r.body)
	}
	r = b.do(t, http.MethodPut, "/files/big.pkl", io.MultiReader(bytes.NewReader(big)), nil)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("too large, chunked: %d %s", r.status, r.body)
	}
	if _, _, err := b.q.OpenFile(ctx, "big.pkl"); err == nil {
		t.Error("a refused upload left an object behind")
	}
	for _, name := range []string{"notes.txt", "..%2Fx.pkl"} {
		r = b.do(t, http.MethodPut, "/files/"+name, strings.NewReader("x"), nil)
		if r.status != http.StatusBadRequest {
			t.Errorf("PUT /files/%s: %d %s", name, r.status, r.body)
		}
	}
}

func TestListJobs(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	writeFile(t, filepath.Join(b.dataDir, "c.pkl"), "x")
	var ids []string
	for _, p := range []string{seedPath, "/data/ingest/candidate?file_name=c.pkl", seedPath} {
		r := b.do(t, http.MethodPost, p, nil, nil)
		if r.status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", p, r.status, r.body)
		}
		var got httpapi.EnqueueResponse
		r.json(t, &got)
		ids = append(ids, got.JobID)
	}
	var list httpapi.JobList
	b.do(t, http.MethodGet, "/jobs?domain=recruit&state=queued", nil, nil).json(t, &list)
	if len(list.Jobs) != 2 || list.Jobs[0].JobID != ids[2] || list.Jobs[1].JobID != ids[0] {
		t.Errorf("recruit jobs %v, want [%s %s] (newest first)", jobIDs(list.Jobs), ids[2], ids[0])
	}
	b.do(t, http.MethodGet, "/jobs?limit=1", nil, nil).json(t, &list)
	if len(list.Jobs) != 1 || list.Jobs[0].JobID != ids[2] {
		t.Errorf("limit 1: %v, want [%s]", jobIDs(list.Jobs), ids[2])
	}
	b.do(t, http.MethodGet, "/jobs?state=failed", nil, nil).json(t, &list)
	if len(list.Jobs) != 0 {
		t.Errorf("failed jobs: %v, want none", jobIDs(list.Jobs))
	}
}

func jobIDs(s []queue.Status) []string {
	var ids []string
	for _, st := range s {
		ids = append(ids, st.JobID)
	}
	return ids
}

func TestDeadLetters(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, dl := range []queue.DeadLetter{
		{JobID: "dead-1", Domain: "recruit", Subject: "ingest.jobs.recruit", Job: []byte(`{"job_id":"dead-1","domain":"recruit","file_name":"processed_recruitment_data.pkl"}`),
			Error: queue.JobError{Class: "file_not_found", Message: "no such file", Permanent: true}, Attempts: 1, Reason: "permanent_error", FailedAt: time.Now().UTC()},
		{JobID: "dead-2", Domain: "candidate", Subject: "ingest.jobs.candidate", Job: []byte(`{"job_id":"dead-2","domain":"candidate","file_name":"c.pkl"}`),
			Error: queue.JobError{Class: "bad_pickle", Message: "truncated", Permanent: true}, Attempts: 1, Reason: "permanent_error", FailedAt: time.Now().UTC()},
	} {
		if err := b.q.PublishDeadLetter(ctx, dl); err != nil {
			t.Fatal(err)
		}
	}
	var list httpapi.DeadLetterList
	b.do(t, http.MethodGet, "/dlq", nil, nil).json(t, &list)
	if len(list.DeadLetters) != 2 {
		t.Fatalf("dead letters %+v, want 2", list.DeadLetters)
	}
	b.do(t, http.MethodGet, "/dlq?domain=recruit", nil, nil).json(t, &list)
	if len(list.DeadLetters) != 1 || list.DeadLetters[0].JobID != "dead-1" || list.DeadLetters[0].Error.Class != "file_not_found" {
		t.Fatalf("recruit dead letters %+v", list.DeadLetters)
	}
	if r := b.do(t, http.MethodGet, "/dlq?domain=nope", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("unknown domain filter: %d", r.status)
	}

	r := b.do(t, http.MethodDelete, "/dlq/dead-2", nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	b.do(t, http.MethodGet, "/dlq?domain=candidate", nil, nil).json(t, &list)
	if len(list.DeadLetters) != 0 {
		t.Errorf("candidate dead letters after delete: %+v", list.DeadLetters)
	}

	r = b.do(t, http.MethodPost, "/dlq/dead-1/replay", nil, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	var got httpapi.EnqueueResponse
	r.json(t, &got)
	if got.JobID != "dead-1" || r.header.Get("Location") != "/jobs/dead-1" {
		t.Errorf("replay answered %+v, Location %q", got, r.header.Get("Location"))
	}
	if n := b.streamMsgs(t); n != 1 {
		t.Errorf("job stream holds %d messages after the replay, want 1", n)
	}
	b.do(t, http.MethodGet, "/dlq", nil, nil).json(t, &list)
	if len(list.DeadLetters) != 0 {
		t.Errorf("dead letters after replay and delete: %+v", list.DeadLetters)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	if r := b.do(t, http.MethodGet, "/healthz", nil, nil); r.status != http.StatusOK {
		t.Errorf("healthz %d", r.status)
	}
	if r := b.do(t, http.MethodGet, "/readyz", nil, nil); r.status != http.StatusOK {
		t.Errorf("readyz %d %s", r.status, r.body)
	}
	b.do(t, http.MethodPost, seedPath, nil, nil)
	b.do(t, http.MethodPost, "/data/ingest/recruit?file_name=absent.pkl", nil, nil)
	r := b.do(t, http.MethodGet, "/metrics", nil, nil)
	for _, want := range []string{
		`embedstream_publisher_http_requests_total{code="202",route="POST /data/ingest/{domain}"} 1`,
		`embedstream_publisher_http_requests_total{code="422",route="POST /data/ingest/{domain}"} 1`,
		`embedstream_publisher_jobs_enqueued_total{domain="recruit"} 1`,
		`embedstream_publisher_http_request_duration_seconds_bucket`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// With NATS down the API answers 503 and nothing is half-enqueued: after
// NATS is back, the stream and the status bucket are empty.
func TestNATSUnavailable(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.nats.Shutdown()
	for _, h := range []header{nil, {"Idempotency-Key": "while-down"}} {
		r := b.do(t, http.MethodPost, seedPath, nil, h)
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("POST with NATS down: %d %s", r.status, r.body)
		}
		if code, _ := r.apiErr(t); code != httpapi.CodeUnavailable {
			t.Errorf("code %s", code)
		}
		if r.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
	if r := b.do(t, http.MethodGet, "/readyz", nil, nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz with NATS down: %d", r.status)
	}
	if r := b.do(t, http.MethodGet, "/healthz", nil, nil); r.status != http.StatusOK {
		t.Errorf("healthz with NATS down: %d (liveness must not depend on NATS)", r.status)
	}
	b.nats.Restart(t)
	waitFor(t, "readyz after the NATS restart", 20*time.Second, func() bool {
		return b.do(t, http.MethodGet, "/readyz", nil, nil).status == http.StatusOK
	})
	// A message buffered while disconnected would be flushed on reconnect;
	// the flush precedes the readiness round trip above on the same
	// connection, so the stream shows it by now.
	if n := b.streamMsgs(t); n != 0 {
		t.Errorf("job stream holds %d messages after failed enqueues, want 0", n)
	}
	var list httpapi.JobList
	b.do(t, http.MethodGet, "/jobs", nil, nil).json(t, &list)
	if len(list.Jobs) != 0 {
		t.Errorf("status records after failed enqueues: %v", jobIDs(list.Jobs))
	}
}

// A full queue answers 503 queue_full and enqueues nothing.
func TestQueueFull(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{maxMsgs: 1})
	if r := b.do(t, http.MethodPost, seedPath, nil, nil); r.status != http.StatusAccepted {
		t.Fatalf("first POST: %d %s", r.status, r.body)
	}
	r := b.do(t, http.MethodPost, seedPath, nil, header{"Idempotency-Key": "second-job"})
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("POST to a full queue: %d %s", r.status, r.body)
	}
	if code, _ := r.apiErr(t); code != httpapi.CodeQueueFull {
		t.Errorf("code %s, want %s", code, httpapi.CodeQueueFull)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if n := b.streamMsgs(t); n != 1 {
		t.Errorf("job stream holds %d messages, want 1", n)
	}
	if r := b.do(t, http.MethodGet, "/jobs/second-job", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("refused job has a status record: %d %s", r.status, r.body)
	}
}
