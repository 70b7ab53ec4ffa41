package httpapi_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/batchservertest"
	"github.com/embedstream/embedstream/internal/domain"
	"github.com/embedstream/embedstream/internal/httpapi"
	"github.com/embedstream/embedstream/internal/ingesttest"
	"github.com/embedstream/embedstream/internal/queue"
)

// The real implementations satisfy the interfaces the API consumes.
var (
	_ httpapi.Queue   = (*queue.Queue)(nil)
	_ httpapi.Domains = (*domain.Registry)(nil)
)

// e2eTimeout bounds every wait on a job in the end-to-end tests.
const e2eTimeout = 60 * time.Second

// sampleFile is the shipped sample the original curl call names.
const sampleFile = "../../data/processed_recruitment_data.pkl"

// fixture is a small recruit DataFrame pickle with its expected records.
const fixture = "../pickleload/testdata/fixtures/recruit_small_df"

// startWorker runs the reference batch server and one in-process worker
// on b's NATS, resolving files in dataDir. It returns the batch server, to
// check commits.
func startWorker(t *testing.T, b *bundle, dataDir string, chunkDelay time.Duration) *batchserver.Server {
	t.Helper()
	log := testLogger(t)
	bs := batchservertest.Start(t, batchserver.Config{ChunkDelay: chunkDelay}, log.With().Str("component", "batchserver").Logger())
	ingesttest.StartWorker(t, b.nats, ingesttest.Config{
		BatchAddr: bs.Addr,
		Worker:    ingesttest.WorkerConfig("worker-" + t.Name()),
		Processor: ingesttest.ProcessorConfig(dataDir),
		Log:       log.With().Str("component", "worker").Logger(),
	})
	return bs.Server
}

// getStatus reads GET /jobs/{id}.
func (b *bundle) getStatus(t *testing.T, id string) queue.Status {
	t.Helper()
	r := b.do(t, http.MethodGet, "/jobs/"+id, nil, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /jobs/%s: %d %s", id, r.status, r.body)
	}
	var st queue.Status
	r.json(t, &st)
	return st
}

// followJob polls GET /jobs/{id} until the job succeeds or fails, and
// returns the distinct states it saw, in order, and the final status.
func (b *bundle) followJob(t *testing.T, id string) ([]string, queue.Status) {
	t.Helper()
	var states []string
	var st queue.Status
	waitFor(t, "job "+id+" to finish", e2eTimeout, func() bool {
		st = b.getStatus(t, id)
		if len(states) == 0 || states[len(states)-1] != st.State {
			states = append(states, st.State)
		}
		return st.State == queue.StateSucceeded || st.State == queue.StateFailed
	})
	return states, st
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(data))
}

func expectedRecords(t *testing.T) uint64 {
	t.Helper()
	data, err := os.ReadFile(fixture + ".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return uint64(bytes.Count(data, []byte("\n")))
}

// The seed's curl call enqueues a job that a worker completes, and
// GET /jobs/{id} goes queued → running → succeeded.
func TestSeedCallEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	copyFile(t, sampleFile, filepath.Join(b.dataDir, "processed_recruitment_data.pkl"))

	r := b.do(t, http.MethodPost, seedPath, nil, header{"accept": "application/json"})
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	var enq httpapi.EnqueueResponse
	r.json(t, &enq)
	// No worker runs yet: the job waits in the queue.
	if st := b.getStatus(t, enq.JobID); st.State != queue.StateQueued {
		t.Fatalf("before any worker runs: state %q, want queued", st.State)
	}
	// A slow batch server keeps the job running long enough to be seen.
	bs := startWorker(t, b, b.dataDir, 100*time.Millisecond)
	states, st := b.followJob(t, enq.JobID)
	if !slices.Equal(states, []string{queue.StateQueued, queue.StateRunning, queue.StateSucceeded}) &&
		!slices.Equal(states, []string{queue.StateRunning, queue.StateSucceeded}) {
		t.Errorf("states seen %q, want queued → running → succeeded", states)
	}
	if !slices.Contains(states, queue.StateRunning) {
		t.Errorf("never saw the job running: %q", states)
	}
	if st.State != queue.StateSucceeded || st.RecordsTotal == 0 || st.RecordsSent != st.RecordsTotal || st.Attempts != 1 {
		t.Fatalf("final status %+v", st)
	}
	entry, ok := bs.Committed(enq.JobID)
	if !ok || entry.Records != st.RecordsTotal || entry.Domain != "recruit" {
		t.Errorf("batch server commit %+v (found %v), want %d recruit records", entry, ok, st.RecordsTotal)
	}
}

// A file uploaded with PUT /files runs as a source "object" job, with no
// file in any data directory.
func TestUploadThenObjectJob(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	bs := startWorker(t, b, t.TempDir(), 0)
	data, err := os.ReadFile(fixture + ".pkl")
	if err != nil {
		t.Fatal(err)
	}
	r := b.do(t, http.MethodPut, "/files/uploaded_recruit.pkl", bytes.NewReader(data), nil)
	if r.status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	var fr httpapi.FileResponse
	r.json(t, &fr)

	r = b.do(t, http.MethodPost, "/data/ingest/recruit", strings.NewReader(`{"file_name": "uploaded_recruit.pkl", "source": "object"}`), nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	var enq httpapi.EnqueueResponse
	r.json(t, &enq)
	_, st := b.followJob(t, enq.JobID)
	want := expectedRecords(t)
	if st.State != queue.StateSucceeded || st.RecordsSent != want || st.Source != queue.SourceObject {
		t.Fatalf("final status %+v, want succeeded with %d records", st, want)
	}
	entry, ok := bs.Committed(enq.JobID)
	if !ok || entry.Records != want || entry.SHA256 != fr.SHA256 {
		t.Errorf("batch server commit %+v (found %v), want %d records of sha256 %s", entry, ok, want, fr.SHA256)
	}
}

// A job whose file is missing fails into the DLQ; once the file exists, a
// replay succeeds under the same job id.
func TestDeadLetterReplayEndToEnd(t *testing.T) {
	t.Parallel()
	// The publisher cannot see the workers' data directory, so it cannot
	// refuse the missing file up front.
	b := setup(t, setupOpts{noDataDir: true})
	workerDir := t.TempDir()
	bs := startWorker(t, b, workerDir, 0)

	r := b.do(t, http.MethodPost, "/data/ingest/recruit?file_name=late.pkl", nil, header{"Idempotency-Key": "late-file-1"})
	if r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	_, st := b.followJob(t, "late-file-1")
	if st.State != queue.StateFailed || st.Error == nil || st.Error.Class != "file_not_found" {
		t.Fatalf("status %+v, want failed with file_not_found", st)
	}
	var list httpapi.DeadLetterList
	b.do(t, http.MethodGet, "/dlq?domain=recruit", nil, nil).json(t, &list)
	if len(list.DeadLetters) != 1 || list.DeadLetters[0].JobID != "late-file-1" || list.DeadLetters[0].Error.Class != "file_not_found" {
		t.Fatalf("dead letters %+v", list.DeadLetters)
	}

	copyFile(t, fixture+".pkl", filepath.Join(workerDir, "late.pkl"))
	r = b.do(t, http.MethodPost, "/dlq/late-file-1/replay", nil, nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	_, st = b.followJob(t, "late-file-1")
	want := expectedRecords(t)
	if st.State != queue.StateSucceeded || st.RecordsSent != want {
		t.Fatalf("after replay: %+v, want succeeded with %d records", st, want)
	}
	if len(st.History) < 2 {
		t.Errorf("history %+v, want the failed attempt kept", st.History)
	}
	if entry, ok := bs.Committed("late-file-1"); !ok || entry.Records != want {
		t.Errorf("batch server commit %+v (found %v)", entry, ok)
	}
	b.do(t, http.MethodGet, "/dlq", nil, nil).json(t, &list)
	if len(list.DeadLetters) != 0 {
		t.Errorf("dead letters after a successful replay: %+v", list.DeadLetters)
	}
}
