package queue_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/embedstream/embedstream/internal/queue"
	"github.com/embedstream/embedstream/internal/wire"
)

var stored = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func hdr(kv ...string) nats.Header {
	h := nats.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestParseJob(t *testing.T) {
	t.Parallel()
	badJob := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, queue.ErrBadJob) {
			t.Fatalf("err = %v, want ErrBadJob", err)
		}
	}
	tests := []struct {
		name    string
		subject string
		header  nats.Header
		body    string
		want    queue.Job
		wantErr func(*testing.T, error)
	}{
		{
			name: "minimal nats pub", subject: "ingest.jobs.recruit", body: `{"file_name":"processed_recruitment_data.pkl"}`,
			want: queue.Job{ID: "seq-7-" + itoa(stored.Unix()), Domain: "recruit", FileName: "processed_recruitment_data.pkl", Source: "file"},
		},
		{
			name: "body job_id", subject: "ingest.jobs.recruit", body: `{"job_id":"J1","file_name":"a.pkl"}`,
			want: queue.Job{ID: "J1", Domain: "recruit", FileName: "a.pkl", Source: "file"},
		},
		{
			name: "Nats-Msg-Id wins over job_id", subject: "ingest.jobs.recruit", header: hdr("Nats-Msg-Id", "M1"), body: `{"job_id":"J1","file_name":"a.pkl"}`,
			want: queue.Job{ID: "M1", Domain: "recruit", FileName: "a.pkl", Source: "file"},
		},
		{
			name: "job id header wins over Nats-Msg-Id (replay)", subject: "ingest.jobs.recruit",
			header: hdr("Nats-Msg-Id", "J1:replay:3", queue.HeaderJobID, "J1"), body: `{"file_name":"a.pkl"}`,
			want: queue.Job{ID: "J1", Domain: "recruit", FileName: "a.pkl", Source: "file"},
		},
		{
			name: "everything", subject: "ingest.jobs.candidate",
			body: `{"job_id":"x:1.a","domain":"candidate","file_name":"d/c.pkl","source":"object","options":{"chunk_records":100,"chunk_bytes":65536},"enqueued_at":"2026-01-02T03:04:05.5+01:00"}`,
			want: queue.Job{ID: "x:1.a", Domain: "candidate", FileName: "d/c.pkl", Source: "object",
				Options: queue.JobOptions{ChunkRecords: 100, ChunkBytes: 65536}, EnqueuedAt: time.Date(2026, 1, 2, 2, 4, 5, 5e8, time.UTC)},
		},
		{name: "subject/body domain mismatch", subject: "ingest.jobs.recruit", body: `{"domain":"candidate","file_name":"a.pkl"}`, wantErr: badJob},
		{name: "missing file_name", subject: "ingest.jobs.recruit", body: `{"job_id":"J1"}`, wantErr: badJob},
		{name: "empty file_name", subject: "ingest.jobs.recruit", body: `{"file_name":""}`, wantErr: badJob},
		{name: "null file_name", subject: "ingest.jobs.recruit", body: `{"file_name":null}`, wantErr: badJob},
		{name: "bad JSON", subject: "ingest.jobs.recruit", body: `{"file_name":`, wantErr: badJob},
		{name: "not an object", subject: "ingest.jobs.recruit", body: `["a.pkl"]`, wantErr: badJob},
		{name: "bad source", subject: "ingest.jobs.recruit", body: `{"file_name":"a.pkl","source":"s3"}`, wantErr: badJob},
		{name: "unknown field", subject: "ingest.jobs.recruit", body: `{"filename":"a.pkl","file_name":"a.pkl"}`, wantErr: badJob},
		{name: "chunk_records zero", subject: "ingest.jobs.recruit", body: `{"file_name":"a.pkl","options":{"chunk_records":0}}`, wantErr: badJob},
		{name: "chunk_bytes too big", subject: "ingest.jobs.recruit", body: `{"file_name":"a.pkl","options":{"chunk_bytes":1073741824}}`, wantErr: badJob},
		{name: "chunk_records not an integer", subject: "ingest.jobs.recruit", body: `{"file_name":"a.pkl","options":{"chunk_records":"10"}}`, wantErr: badJob},
		{name: "unknown option", subject: "ingest.jobs.recruit", body: `{"file_name":"a.pkl","options":{"chunk":1}}`, wantErr: badJob},
		{name: "bad enqueued_at", subject: "ingest.jobs.recruit", body: `{"file_name":"a.pkl","enqueued_at":"yesterday"}`, wantErr: badJob},
		{name: "bad job_id", subject: "ingest.jobs.recruit", body: `{"job_id":"-x","file_name":"a.pkl"}`, wantErr: badJob},
		{name: "bad Nats-Msg-Id", subject: "ingest.jobs.recruit", header: hdr("Nats-Msg-Id", "a b"), body: `{"file_name":"a.pkl"}`, wantErr: func(t *testing.T, err error) {
			badJob(t, err)
			if !errors.Is(err, wire.ErrInvalidID) {
				t.Fatalf("err = %v, want ErrInvalidID too", err)
			}
		}},
		{name: "subject without domain", subject: "ingest.jobs", body: `{"file_name":"a.pkl"}`, wantErr: badJob},
		{name: "subject with two tokens", subject: "ingest.jobs.a.b", body: `{"file_name":"a.pkl"}`, wantErr: badJob},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := queue.ParseJob(tt.subject, tt.header, []byte(tt.body), 7, stored)
			if tt.wantErr != nil {
				tt.wantErr(t, err)
				return
			}
			if err != nil {
				t.Fatalf("ParseJob: %v", err)
			}
			if !got.EnqueuedAt.Equal(tt.want.EnqueuedAt) {
				t.Fatalf("EnqueuedAt = %v, want %v", got.EnqueuedAt, tt.want.EnqueuedAt)
			}
			got.EnqueuedAt, tt.want.EnqueuedAt = time.Time{}, time.Time{}
			if got != tt.want {
				t.Fatalf("job = %+v, want %+v", got, tt.want)
			}
			if err := wire.ValidateID("job id", got.ID); err != nil {
				t.Fatalf("job id: %v", err)
			}
		})
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestJobIDFromMsg(t *testing.T) {
	t.Parallel()
	if got := queue.JobIDFromMsg(hdr("Nats-Msg-Id", "M"), []byte("{"), 1, stored); got != "M" {
		t.Errorf("header id: got %q", got)
	}
	if got := queue.JobIDFromMsg(nil, []byte(`{"job_id":"B","x":1}`), 1, stored); got != "B" {
		t.Errorf("body id: got %q", got)
	}
	if got, want := queue.JobIDFromMsg(nil, []byte("not json"), 9, stored), queue.DerivedJobID(9, stored); got != want {
		t.Errorf("derived id: got %q, want %q", got, want)
	}
}

func TestNewJobID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	prev := ""
	for range 1000 {
		id := queue.NewJobID()
		if err := wire.ValidateID("job id", id); err != nil {
			t.Fatal(err)
		}
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
		if id[:12] < prev { // the millisecond prefix never goes back
			t.Fatalf("id %s sorts before the previous prefix %s", id, prev)
		}
		prev = id[:12]
	}
}

// TestJobSchemaAgreesWithParser judges each body with job.schema.json and
// with ParseJob: both must accept or both reject.
func TestJobSchemaAgreesWithParser(t *testing.T) {
	t.Parallel()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(queue.JobSchema))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	if err := c.AddResource("job.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("job.schema.json")
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	bodies := []string{
		// valid
		`{"file_name":"processed_recruitment_data.pkl"}`,
		`{"file_name":"a.pkl","domain":"recruit"}`,
		`{"job_id":"J-1","file_name":"a.pkl","source":"file"}`,
		`{"job_id":"a.b:c_d-e","file_name":"x","source":"object"}`,
		`{"file_name":"a.pkl","options":{}}`,
		`{"file_name":"a.pkl","options":{"chunk_records":1,"chunk_bytes":4096}}`,
		`{"file_name":"a.pkl","options":{"chunk_records":1000000,"chunk_bytes":67108864}}`,
		`{"file_name":"a.pkl","enqueued_at":"2026-11-25T20:00:00Z"}`,
		`{"file_name":"a.pkl","enqueued_at":"2026-11-25T20:00:00.123456+05:30"}`,
		`{"file_name":"` + strings.Repeat("abcd/", 203) + `x.pkl"}`, // 1,020 bytes
		`{"file_name":"` + strings.Repeat("a", 255) + `"}`,
		`{"file_name":"` + strings.Repeat("a", 255) + "/" + strings.Repeat("b", 255) + `"}`,
		`{"job_id":"` + strings.Repeat("j", 200) + `","file_name":"a"}`,
		`{"file_name":"` + strings.Repeat("é", 127) + `"}`, // 254 bytes
		// invalid
		`{}`,
		`[]`,
		`"a.pkl"`,
		`null`,
		`{"file_name":""}`,
		`{"file_name":null}`,
		`{"file_name":7}`,
		`{"file_name":"` + strings.Repeat("a", 1025) + `"}`,
		`{"file_name":"` + strings.Repeat("é", 1025) + `"}`,
		`{"file_name":"` + strings.Repeat("a", 256) + `"}`,
		`{"file_name":"x/` + strings.Repeat("a", 256) + `/y.pkl"}`,
		`{"file_name":"` + strings.Repeat("abcd/", 204) + `x.pkl"}`, // 1,025 bytes
		`{"file_name":"a.pkl","extra":1}`,
		`{"file_name":"a.pkl","domain":"re.cruit"}`,
		`{"file_name":"a.pkl","domain":""}`,
		`{"file_name":"a.pkl","job_id":""}`,
		`{"file_name":"a.pkl","job_id":"_x"}`,
		`{"file_name":"a.pkl","job_id":"a b"}`,
		`{"file_name":"a.pkl","job_id":"` + strings.Repeat("j", 201) + `"}`,
		`{"file_name":"a.pkl","job_id":5}`,
		`{"file_name":"a.pkl","source":"s3"}`,
		`{"file_name":"a.pkl","source":null}`,
		`{"file_name":"a.pkl","options":[]}`,
		`{"file_name":"a.pkl","options":null}`,
		`{"file_name":"a.pkl","options":{"chunk_records":0}}`,
		`{"file_name":"a.pkl","options":{"chunk_records":-5}}`,
		`{"file_name":"a.pkl","options":{"chunk_records":1000001}}`,
		`{"file_name":"a.pkl","options":{"chunk_records":2.5}}`,
		`{"file_name":"a.pkl","options":{"chunk_bytes":4095}}`,
		`{"file_name":"a.pkl","options":{"chunk_bytes":"1MiB"}}`,
		`{"file_name":"a.pkl","options":{"chunks":1}}`,
		`{"file_name":"a.pkl","enqueued_at":"2026-11-25"}`,
		`{"file_name":"a.pkl","enqueued_at":"2026-11-25 20:00:00Z"}`,
		`{"file_name":"a.pkl","enqueued_at":1764100000}`,
	}
	const nValid = 14 // the first bodies are valid, the rest not
	for i, body := range bodies {
		_, perr := queue.ParseJob("ingest.jobs.recruit", nil, []byte(body), 1, stored)
		inst, jerr := jsonschema.UnmarshalJSON(strings.NewReader(body))
		if jerr != nil {
			t.Fatalf("test body %s: %v", body, jerr)
		}
		serr := sch.Validate(inst)
		if (perr == nil) != (i < nValid) {
			t.Errorf("body %.80s: parser err = %v, want valid = %v", body, perr, i < nValid)
		}
		if (perr == nil) != (serr == nil) {
			t.Errorf("body %.80s: parser err = %v, schema err = %v", body, perr, serr)
		}
	}
	// The schema states the name's bounds in characters, the parser in
	// bytes: non-ASCII names within the first but not the second are the
	// one difference, and the parser refuses them.
	for _, name := range []string{strings.Repeat("é", 128), strings.Repeat("€", 250), strings.Repeat(strings.Repeat("€", 84)+"/", 11) + strings.Repeat("€", 84), "d/" + strings.Repeat("€", 86)} {
		body := `{"file_name":"` + name + `"}`
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("schema refuses %d characters (%d bytes): %v", len([]rune(name)), len(name), err)
		}
		if _, err := queue.ParseJob("ingest.jobs.recruit", nil, []byte(body), 1, stored); !errors.Is(err, queue.ErrBadJob) {
			t.Errorf("parser accepts a name of %d bytes: %v", len(name), err)
		}
	}
}
