package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/batchservertest"
	"github.com/embedstream/embedstream/internal/chunk"
	"github.com/embedstream/embedstream/internal/healthprobe"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/picklegen"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/queue"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// Resume tests stream a generated recruit DataFrame of resumeRows rows
// (about 30 MB) in chunks of resumeChunk records.
const (
	resumeRows  = 15000
	resumeChunk = 100
)

// resumeSpec is the generated dataset of the resume tests.
var resumeSpec = picklegen.Spec{Rows: resumeRows, Dim: 384, Seed: 14}

// addFrame writes spec's recruit DataFrame pickle into the data
// directory as name and returns its path.
func (e *env) addFrame(name string, spec picklegen.Spec) string {
	e.t.Helper()
	path := filepath.Join(e.dataDir, name)
	f, err := os.Create(path)
	if err != nil {
		e.t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := picklegen.WriteFrame(w, spec.Source()); err != nil {
		e.t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		e.t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// chunkPlan is how a file is cut into chunks: each chunk's records and
// encoded size, in order.
type chunkPlan struct {
	records []int
	sizes   []int64
}

func (p chunkPlan) chunks() uint64 { return uint64(len(p.sizes)) }

// bytes returns the encoded bytes of chunks [from, end).
func (p chunkPlan) bytes(from uint64) int64 {
	var n int64
	for _, s := range p.sizes[from:] {
		n += s
	}
	return n
}

// recordsBefore returns the records of chunks [0, seq).
func (p chunkPlan) recordsBefore(seq uint64) uint64 {
	var n uint64
	for _, r := range p.records[:seq] {
		n += uint64(r)
	}
	return n
}

// planOf loads the pickle at path as the worker does and cuts it as the
// worker's encoder does with chunks of at most records records (the other
// bounds at their defaults).
func planOf(t *testing.T, path string, records int) chunkPlan {
	t.Helper()
	tb, err := pickleload.LoadFile(path, pickleload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var p chunkPlan
	err = chunk.NewEncoder(tb, chunk.Options{Records: records}).Pipe(context.Background(), chunk.Start{}, func(m *chunk.Message) error {
		p.records = append(p.records, m.Records)
		p.sizes = append(p.sizes, int64(m.Size))
		m.Free()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkExact checks that the JSONL at path is byte for byte the canonical
// JSONL of spec's rows, naming the first differing line if not.
func checkExact(t *testing.T, path string, spec picklegen.Spec) {
	t.Helper()
	want, err := picklegen.Expect(spec.Source(), picklegen.Frame)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := picklegen.Summarize(f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Equal(want) {
		return
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("committed JSONL %+v differs from the expected %+v: %v", got, want, picklegen.Compare(f, spec.Source(), picklegen.Frame))
}

// processMetric returns the value of the sample named name (with its
// labels) on the /metrics of the process at addr, or -1 if there is none.
func processMetric(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return v
		}
	}
	return -1
}

// TestProcessKilledNearTheEndResumes: a worker process is SIGKILLed once
// the batch server has staged 90 % of a 30 MB stream (the kill happens in
// the server's staging hook, so the stream cannot finish meanwhile). The
// job, redelivered to another worker process, resumes where the staging
// ends: it re-sends under 20 % of the chunks, its status counts the whole
// dataset, its log and metrics say it resumed, and the committed JSONL is
// exactly the expected one.
func TestProcessKilledNearTheEndResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{AckWait: 4 * time.Second, ChunkDelay: 40 * time.Millisecond, StagingSyncInterval: 200 * time.Millisecond})
	file := e.addFrame("big.pkl", resumeSpec)
	plan := planOf(t, file, resumeChunk)
	const id = "resume-kill"

	stagedAtKill := make(chan uint64, 1)
	killed := make(chan struct{})
	var once sync.Once
	hook := func(got string, chunks, records uint64) {
		if got != id || records*10 < resumeRows*9 || records >= resumeRows {
			return
		}
		once.Do(func() {
			stagedAtKill <- chunks
			select { // hold the stream until the worker is dead
			case <-killed:
			case <-time.After(waitTimeout):
			}
		})
	}
	e.staged.Store(&hook)

	a := e.startProcess("a")
	e.enqueue(queue.Job{ID: id, Domain: "recruit", FileName: "big.pkl", Options: queue.JobOptions{ChunkRecords: resumeChunk}})
	var atKill uint64
	select {
	case atKill = <-stagedAtKill:
	case <-time.After(4 * waitTimeout):
		t.Fatal("the batch server never staged 90 % of the stream")
	}
	err := a.signal(syscall.SIGKILL)
	close(killed)
	if err == nil {
		t.Fatal("SIGKILL'd worker exited with status 0")
	}

	b := e.startProcess("b")
	s := e.waitFinished(id)
	if s.State != queue.StateSucceeded || s.Worker != "b" || s.Attempts != 2 {
		t.Fatalf("status %+v, want succeeded by b on attempt 2", s)
	}
	entry, ok := e.batch.Committed(id)
	if !ok || entry.Chunks != plan.chunks() || entry.Records != resumeRows || entry.Attempt != 2 {
		t.Fatalf("ledger entry %+v, want %d chunks, %d records, by attempt 2", entry, plan.chunks(), resumeRows)
	}
	from := entry.ResumedFrom
	resent, resentBytes, totalBytes := plan.chunks()-from, plan.bytes(from), plan.bytes(0)
	t.Logf("worker killed with %d of %d chunks staged; attempt 2 resumed at chunk %d and re-sent %d chunks (%.1f %%), %d of %d bytes (%.1f %%)",
		atKill, plan.chunks(), from, resent, 100*float64(resent)/float64(plan.chunks()), resentBytes, totalBytes, 100*float64(resentBytes)/float64(totalBytes))
	if from < atKill || resent*5 >= plan.chunks() {
		t.Errorf("attempt 2 resumed at chunk %d (%d staged at the kill) and re-sent %d of %d chunks, want under 20 %%", from, atKill, resent, plan.chunks())
	}
	if s.RecordsSent != resumeRows || s.ChunksSent != plan.chunks() || s.BytesSent != uint64(resentBytes) {
		t.Errorf("status records %d, chunks %d, bytes %d; want the whole dataset (%d records, %d chunks) and the %d bytes attempt 2 sent",
			s.RecordsSent, s.ChunksSent, s.BytesSent, resumeRows, plan.chunks(), resentBytes)
	}
	b.waitLogs("stream resumed at resume_chunk: the batch server had staged the chunks before it", "job succeeded")
	for name, want := range map[string]float64{
		`embedstream_worker_resumes_total{domain="recruit"}`:          1,
		`embedstream_worker_resumed_records_total{domain="recruit"}`:  float64(plan.recordsBefore(from)),
		`embedstream_worker_resent_bytes_total{domain="recruit"}`:     float64(resentBytes),
		`embedstream_worker_records_streamed_total{domain="recruit"}`: float64(resumeRows - plan.recordsBefore(from)),
	} {
		if got := processMetric(t, b.addr, name); got != want {
			t.Errorf("worker b: %s = %v, want %v", name, got, want)
		}
	}
	checkExact(t, e.batch.OutputPath("recruit", id), resumeSpec)
}

// batchProc is a batchserver process.
type batchProc struct {
	cmd    *exec.Cmd
	logs   *bytes.Buffer
	exited chan error
}

var (
	batchBuildOnce sync.Once
	batchBuildErr  error
)

// batchServerBinary builds the batchserver command (once) and returns its
// path.
func batchServerBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("process tests build and run the batchserver binary")
	}
	path := filepath.Join(binDir, "batchserver")
	batchBuildOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", path, "github.com/embedstream/embedstream/batchserver").CombinedOutput()
		if err != nil {
			batchBuildErr = fmt.Errorf("go build batchserver: %v\n%s", err, out)
		}
	})
	if batchBuildErr != nil {
		t.Fatal(batchBuildErr)
	}
	return path
}

// startBatchProcess runs the batchserver binary on addr with args and
// waits until its health service answers SERVING. It is killed when the
// test ends if still running.
func startBatchProcess(t *testing.T, addr string, args ...string) *batchProc {
	t.Helper()
	p := &batchProc{logs: &bytes.Buffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(batchServerBinary(t), append([]string{"--listen", addr, "--log-format", "json"}, args...)...)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("batchserver log:\n%s", p.logs.String())
		}
	})
	polltest.Until(t, waitTimeout, "the batch server to serve", func() bool {
		select {
		case err := <-p.exited:
			t.Fatalf("batch server exited early: %v\n%s", err, p.logs.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return healthprobe.GRPC(nil)(ctx, addr) == nil
	})
	return p
}

// kill ends the process with SIGKILL and waits for it.
func (p *batchProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(waitTimeout):
		t.Fatal("the batch server did not exit after SIGKILL")
	}
}

// ingestState asks the batch server at addr what it holds for id.
func ingestState(t *testing.T, addr, id string) *pb.GetIngestStateResponse {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	st, err := pb.NewEmbeddingStreamServiceClient(cc).GetIngestState(ctx, &pb.GetIngestStateRequest{IngestId: id}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("GetIngestState(%s): %v", id, err)
	}
	return st
}

// ledgerEntry returns id's entry in the ledger under out.
func ledgerEntry(t *testing.T, out, id string) (batchserver.Entry, bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range bytes.Lines(data) {
		var e batchserver.Entry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("ledger line %q: %v", line, err)
		}
		if e.IngestID == id {
			return e, true
		}
	}
	return batchserver.Entry{}, false
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestBatchServerRestartedMidStreamResumes: the batch server process is
// SIGKILLed once it has staged 90 % of a 30 MB stream and restarted on the
// same address and directory. The worker's retry waits for it, resumes at
// the staging's last synced boundary, re-sends under 20 % of the chunks,
// and the committed JSONL is exactly the expected one.
func TestBatchServerRestartedMidStreamResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{AckWait: 10 * time.Second})
	file := e.addFrame("big.pkl", resumeSpec)
	plan := planOf(t, file, resumeChunk)
	const id = "resume-restart"
	addr, out := freeAddr(t), t.TempDir()
	args := []string{"--out", out, "--chunk-delay", "40ms", "--staging-sync-interval", "200ms"}
	bs := startBatchProcess(t, addr, args...)
	e.batchAddr = addr
	e.startWorker("w", nil)
	e.enqueue(queue.Job{ID: id, Domain: "recruit", FileName: "big.pkl", Options: queue.JobOptions{ChunkRecords: resumeChunk}})

	var staged *pb.GetIngestStateResponse
	polltest.Until(t, 4*waitTimeout, "the batch server to stage 90 % of the stream", func() bool {
		staged = ingestState(t, addr, id)
		if staged.GetCommitted() {
			t.Fatal("the stream committed before the batch server could be killed")
		}
		return staged.GetStagedRecords()*10 >= resumeRows*9
	})
	bs.kill(t)
	startBatchProcess(t, addr, args...)

	s := e.waitFinished(id)
	if s.State != queue.StateSucceeded || s.Attempts < 2 {
		t.Fatalf("status %+v, want succeeded after a retry", s)
	}
	if s.RecordsSent != resumeRows || s.ChunksSent != plan.chunks() {
		t.Errorf("status records %d, chunks %d; want the whole dataset (%d records, %d chunks)", s.RecordsSent, s.ChunksSent, resumeRows, plan.chunks())
	}
	entry, ok := ledgerEntry(t, out, id)
	if !ok || entry.Chunks != plan.chunks() || entry.Records != resumeRows {
		t.Fatalf("ledger entry %+v, want %d chunks and %d records", entry, plan.chunks(), resumeRows)
	}
	from := entry.ResumedFrom
	resent, resentBytes, totalBytes := plan.chunks()-from, plan.bytes(from), plan.bytes(0)
	t.Logf("batch server killed with %d of %d chunks staged; attempt %d resumed at chunk %d and re-sent %d chunks (%.1f %%), %d of %d bytes (%.1f %%)",
		staged.GetStagedChunks(), plan.chunks(), entry.Attempt, from, resent, 100*float64(resent)/float64(plan.chunks()),
		resentBytes, totalBytes, 100*float64(resentBytes)/float64(totalBytes))
	if from < staged.GetStagedChunks() || resent*5 >= plan.chunks() {
		t.Errorf("resumed at chunk %d (%d staged before the kill), re-sent %d of %d chunks, want under 20 %%", from, staged.GetStagedChunks(), resent, plan.chunks())
	}
	checkExact(t, filepath.Join(out, "recruit", id+".jsonl"), resumeSpec)
}

// TestPythonV1ServerJobsCommitFullStreams: workers streaming to the Python
// batch server written from contract v1 alone (GetIngestState
// UNIMPLEMENTED; a resumed stream would be a sequence gap, refused) commit
// every job with full streams, also a job cut off mid-stream by a worker's
// shutdown and finished by another worker.
func TestPythonV1ServerJobsCommitFullStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{AckWait: 10 * time.Second})
	v1 := batchservertest.StartPythonV1(t)
	e.batchAddr = v1.Addr
	spec := picklegen.Spec{Rows: 4000, Dim: 384, Seed: 12}
	plan := planOf(t, e.addFrame("v1.pkl", spec), resumeChunk)
	job := queue.Job{Domain: "recruit", FileName: "v1.pkl", Options: queue.JobOptions{ChunkRecords: resumeChunk}}

	a := e.startWorker("a", func(w *ingest.WorkerConfig, _ *ingest.ProcessorConfig) { w.ShutdownTimeout = 0 })
	job.ID = "v1-cut"
	e.enqueue(job)
	e.waitStatus("v1-cut", func(s queue.Status) bool { return s.ChunksSent > 0 })
	a.stop()
	e.startWorker("b", nil)
	job.ID = "v1-straight"
	e.enqueue(job)

	for _, tc := range []struct {
		id       string
		attempts int
	}{{"v1-cut", 2}, {"v1-straight", 1}} {
		s := e.waitFinished(tc.id)
		if s.State != queue.StateSucceeded || s.Worker != "b" || s.Attempts != tc.attempts {
			t.Fatalf("%s: status %+v, want succeeded by b on attempt %d", tc.id, s, tc.attempts)
		}
		if tc.attempts == 2 && s.History[0].Outcome != ingest.OutcomeShutdown {
			t.Errorf("%s: history %+v, want a shutdown attempt first", tc.id, s.History)
		}
		entry, ok := v1.Committed(t, tc.id)
		if !ok || entry.Chunks != plan.chunks() || entry.Records != uint64(spec.Rows) || entry.Attempt != uint32(tc.attempts) {
			t.Fatalf("%s: Python ledger entry %+v, want a full stream of %d chunks and %d records by attempt %d",
				tc.id, entry, plan.chunks(), spec.Rows, tc.attempts)
		}
		recs := v1.Records(t, "recruit", tc.id)
		if len(recs) != spec.Rows || recs[0]["recruit_id"] != "R0000001" || recs[spec.Rows-1]["recruit_id"] != fmt.Sprintf("R%07d", spec.Rows) {
			t.Errorf("%s: the Python server committed %d records, want the file's %d in order", tc.id, len(recs), spec.Rows)
		}
	}
}
