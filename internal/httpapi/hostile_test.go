package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/queuetest"
)

// TestCrossSiteBrowserRequestsRefused: without API_TOKEN, the API's
// state-changing routes refuse what a browser sends from another site (a
// form or fetch on a hostile page), with the headers browsers send, as the
// dashboard's forms do; the same requests from the API's own origin, or
// from a client that is no browser (curl), go through.
func TestCrossSiteBrowserRequestsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	if _, err := b.q.Enqueue(ctx, queue.Job{ID: "dl-1", Domain: "recruit", FileName: "x.pkl"}); err != nil {
		t.Fatal(err)
	}
	routes := []struct{ method, path string }{
		{http.MethodPost, "/data/ingest/recruit?file_name=processed_recruitment_data.pkl"},
		{http.MethodPut, "/files/evil.pkl"},
		{http.MethodDelete, "/dlq/dl-1"},
		{http.MethodPost, "/dlq/dl-1/replay"},
	}
	for _, hostile := range []header{
		{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "same-site", "Origin": "https://evil." + strings.TrimPrefix(b.http.URL, "http://")},
		{"Origin": "https://evil.example"}, // a browser too old for Sec-Fetch-Site
	} {
		for _, rt := range routes {
			r := b.do(t, rt.method, rt.path, strings.NewReader("body"), hostile)
			if code, _ := r.apiErr(t); r.status != http.StatusForbidden || code != httpapi.CodeCrossOrigin {
				t.Errorf("%s %s with %v: %d %s, want 403 %s", rt.method, rt.path, hostile, r.status, r.body, httpapi.CodeCrossOrigin)
			}
		}
	}
	if n := b.streamMsgs(t); n != 1 {
		t.Fatalf("job stream holds %d jobs after refused requests, want the one enqueued", n)
	}
	if _, _, err := b.q.OpenFile(ctx, "evil.pkl"); err == nil {
		t.Fatal("a cross-site upload was stored")
	}
	// Reading is no state change: a cross-site GET is answered.
	if r := b.do(t, http.MethodGet, "/jobs", nil, header{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}); r.status != http.StatusOK {
		t.Errorf("cross-site GET /jobs: %d", r.status)
	}
	// The API's own origin, and curl, are served.
	if r := b.do(t, http.MethodPost, routes[0].path, nil, header{"Sec-Fetch-Site": "same-origin", "Origin": b.http.URL}); r.status != http.StatusAccepted {
		t.Errorf("same-origin POST: %d %s", r.status, r.body)
	}
	if r := b.do(t, http.MethodPost, routes[0].path, nil, nil); r.status != http.StatusAccepted {
		t.Errorf("POST without browser headers: %d %s", r.status, r.body)
	}
}

// TestHostileNamesRefused: names over the byte bounds are refused at the
// API with unsafe_path before they reach NATS (an upload name of ~3,100
// characters closed the publisher's NATS connection for good: its object
// subject passed NATS's control-line limit), and so is a name the file
// system finds too long (it answered 500). The publisher stays ready.
func TestHostileNamesRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	euro := strings.Repeat("€", 1020) // 1,020 characters, 3,060 bytes
	long := strings.Repeat("x", 3100) + ".pkl"
	for _, c := range []struct {
		name, method, path string
		body               string
	}{
		{"upload of ~3,100 characters", http.MethodPut, "/files/" + url.PathEscape(long), "pickle"},
		{"upload of 1,020 '€'", http.MethodPut, "/files/" + url.PathEscape(euro+".pkl"), "pickle"},
		{"query of 1,020 '€'", http.MethodPost, "/data/ingest/recruit?file_name=" + url.QueryEscape(euro+".pkl"), ""},
		{"body of 1,020 '€'", http.MethodPost, "/data/ingest/recruit", `{"file_name":"` + euro + `.pkl","source":"object"}`},
		{"component over 255 bytes", http.MethodPost, "/data/ingest/recruit?file_name=" + strings.Repeat("a", 300) + ".pkl", ""},
	} {
		r := b.do(t, c.method, c.path, strings.NewReader(c.body), nil)
		code, msg := r.apiErr(t)
		if r.status != http.StatusBadRequest || code != httpapi.CodeUnsafePath {
			t.Errorf("%s: %d %s, want 400 %s", c.name, r.status, r.body, httpapi.CodeUnsafePath)
		}
		if len(msg) > 300 {
			t.Errorf("%s: the message echoes the name (%d bytes)", c.name, len(msg))
		}
	}
	// NATS still serves the publisher: it is ready, and a job goes in.
	if err := b.q.Ready(context.Background()); err != nil {
		t.Fatalf("publisher's NATS after hostile names: %v", err)
	}
	if r := b.do(t, http.MethodPost, "/data/ingest/recruit?file_name=processed_recruitment_data.pkl", nil, nil); r.status != http.StatusAccepted {
		t.Fatalf("enqueue after hostile names: %d %s", r.status, r.body)
	}
	if r := b.do(t, http.MethodGet, "/readyz", nil, nil); r.status != http.StatusOK {
		t.Fatalf("/readyz after hostile names: %d %s", r.status, r.body)
	}
}

// TestNameTooLongForTheFileSystem: a name within the bounds that the
// publisher's file system still finds too long (ENAMETOOLONG: here its
// DATA_DIR's path plus the name passes PATH_MAX) is 400 unsafe_path, not
// 500.
func TestNameTooLongForTheFileSystem(t *testing.T) {
	t.Parallel()
	deep := t.TempDir()
	for len(deep) < 4096-240 {
		deep = filepath.Join(deep, strings.Repeat("d", min(250, max(1, 4096-240-len(deep)))))
	}
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Skipf("cannot build a %d-byte directory path here: %v", len(deep), err)
	}
	b := setup(t, setupOpts{noDataDir: true})
	api := httpapi.New(httpapi.Config{DataDir: deep, Ready: b.q.Ready}, b.q, domainNames{"recruit"}, testLogger(t))
	ts := httptest.NewServer(api)
	t.Cleanup(ts.Close)
	srv := ts.URL
	name := strings.Repeat("n", 250) + "/" + strings.Repeat("m", 250) + ".pkl"
	resp, err := http.Post(srv+"/data/ingest/recruit?file_name="+url.QueryEscape(name), "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := response{status: resp.StatusCode}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	r.body = buf.Bytes()
	if code, _ := r.apiErr(t); r.status != http.StatusBadRequest || code != httpapi.CodeUnsafePath {
		t.Fatalf("name too long for the file system: %d %s, want 400 %s", r.status, r.body, httpapi.CodeUnsafePath)
	}
}

// TestEchoedValuesAreBounded: a hostile value is quoted in an error cut to
// 2 KiB, whichever route echoes it.
func TestEchoedValuesAreBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	big := strings.Repeat("v", 100_000)
	for _, c := range []struct{ method, path, body string }{
		{http.MethodGet, "/jobs?state=" + big, ""},
		{http.MethodGet, "/jobs?limit=" + big, ""},
		{http.MethodGet, "/jobs/" + big, ""},
		{http.MethodPost, "/data/ingest/" + big + "?file_name=a.pkl", ""},
		{http.MethodPost, "/data/ingest/recruit?file_name=a.pkl&source=" + big, ""},
		{http.MethodPost, "/data/ingest/recruit", `{"` + big[:60_000] + `":1}`},
		{http.MethodPost, "/dlq/" + big + "/replay", ""},
	} {
		r := b.do(t, c.method, c.path, strings.NewReader(c.body), nil)
		code, msg := r.apiErr(t)
		if r.status < 400 || len(msg) > 3<<10 || len(r.body) > 4<<10 {
			t.Errorf("%s %.40s...: %d %s, message of %d bytes (body %d): want an error under 3 KiB", c.method, c.path, r.status, code, len(msg), len(r.body))
		}
	}
}

// TestHugeUnknownKeysKeepJobsSmall: jobs published straight to NATS with
// a 60 KB unknown JSON key (a 440 KB one is now refused at publish: above
// the job stream's 64 KiB MaxMsgSize) fail as bad jobs with a status
// record of a few KiB, and GET /jobs of 60 of them stays small (it was
// 54 MB for 60 jobs with 440 KB keys).
func TestHugeUnknownKeysKeepJobsSmall(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	startWorker(t, b, b.dataDir, 0)
	js := queuetest.JetStream(t, b.nats)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.Publish(ctx, "ingest.jobs.recruit", []byte(`{"`+strings.Repeat("k", 440_000)+`":1,"file_name":"a.pkl"}`)); err == nil {
		t.Fatal("a job with a 440 KB key was stored")
	}
	const n = 60
	for i := range n {
		msg := &nats.Msg{Subject: "ingest.jobs.recruit", Header: nats.Header{},
			Data: []byte(`{"` + strings.Repeat("k", 60_000) + `":1,"file_name":"a.pkl"}`)}
		msg.Header.Set(queue.HeaderMsgID, fmt.Sprintf("hostile-key-%02d", i))
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	var list httpapi.JobList
	waitFor(t, "the hostile jobs to fail", e2eTimeout, func() bool {
		list = httpapi.JobList{}
		b.do(t, http.MethodGet, "/jobs?state=failed&limit=1000", nil, nil).json(t, &list)
		return len(list.Jobs) == n
	})
	r := b.do(t, http.MethodGet, "/jobs?limit=1000", nil, nil)
	if len(r.body) > 512<<10 {
		t.Errorf("GET /jobs of %d hostile jobs is %d bytes", n, len(r.body))
	}
	for _, st := range list.Jobs {
		if st.Error == nil || st.Error.Class != "bad_job" || len(st.Error.Message) > queue.MaxErrorBytes {
			t.Fatalf("job %s: %+v, want bad_job with a message of at most %d bytes", st.JobID, st.Error, queue.MaxErrorBytes)
		}
	}
	one := b.do(t, http.MethodGet, "/jobs/hostile-key-00", nil, nil)
	if len(one.body) > 8<<10 {
		t.Errorf("the status record of one hostile job is %d bytes", len(one.body))
	}
}
