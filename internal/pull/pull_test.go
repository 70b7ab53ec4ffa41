package pull_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/picklegen"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/pull"
	"github.com/embedstream/embedstream/internal/tlstest"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// results collects the Done hook's results, by request id.
type results struct {
	mu   sync.Mutex
	all  []pull.Result
	done chan pull.Result
}

func newResults() *results { return &results{done: make(chan pull.Result, 64)} }

func (r *results) hook(res pull.Result) {
	r.mu.Lock()
	r.all = append(r.all, res)
	r.mu.Unlock()
	r.done <- res
}

// next waits for the next call to end.
func (r *results) next(t *testing.T) pull.Result {
	t.Helper()
	select {
	case res := <-r.done:
		return res
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for a pull to end")
		return pull.Result{}
	}
}

// TestPullStatusCodes: every failure the contract names reaches the caller
// with its code, and commits nothing.
func TestPullStatusCodes(t *testing.T) {
	dir := t.TempDir()
	good := copyFile(t, filepath.Join(samplesDir, "processed_recruitment_data.pkl"), dir)
	hostile := copyFile(t, "../pickleload/testdata/hostile/global_builtins_eval.pkl", dir)
	bomb := copyFile(t, "../pickleload/testdata/hostile/billion_laughs.pkl", dir)
	if err := os.WriteFile(filepath.Join(dir, "junk.pkl"), []byte("not a pickle at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := writeRecruit(t, dir, "big.pkl", 5000, 384, nil) // larger than the sample, which must load
	st, err := os.Stat(filepath.Join(dir, big))
	if err != nil {
		t.Fatal(err)
	}
	w := startWorker(t, dir, workerOpts{limits: dataset.Limits{MaxFileBytes: st.Size() - 1}})
	conn := dial(t, w.Addr, nil, "")
	bs := newSink(t, batchserver.Config{})

	tests := []struct {
		name string
		req  *pb.DatasetRequest
		code codes.Code
		msg  string // a part of the message
		raw  bool   // call the worker directly (batchserver.Pull refuses the request itself)
	}{
		{"missing file", fileRequest("recruit", "missing.pkl", ""), codes.NotFound, "missing.pkl", false},
		{"missing object", &pb.DatasetRequest{Domain: "recruit", Source: &pb.DatasetRequest_ObjectName{ObjectName: "gone.pkl"}}, codes.FailedPrecondition, "no object store", false},
		{"dot-dot", fileRequest("recruit", "../etc/passwd", ""), codes.InvalidArgument, "..", false},
		{"absolute", fileRequest("recruit", "/etc/passwd", ""), codes.InvalidArgument, "absolute", false},
		{"no source", &pb.DatasetRequest{Domain: "recruit"}, codes.InvalidArgument, "no source", false},
		{"empty name", fileRequest("recruit", "", ""), codes.InvalidArgument, "empty", false},
		{"long name", fileRequest("recruit", strings.Repeat("a", pull.MaxNameLen+1), ""), codes.InvalidArgument, "characters long", false},
		{"bad domain", fileRequest("re cruit", good, ""), codes.InvalidArgument, "domain", false},
		{"unknown domain", fileRequest("payroll", good, ""), codes.InvalidArgument, "unknown domain", false},
		{"bad ingest_id", fileRequest("recruit", good, "-x"), codes.InvalidArgument, "ingest_id", true},
		{"half a resume point", &pb.DatasetRequest{Domain: "recruit", Source: &pb.DatasetRequest_FileName{FileName: good}, ResumeFromSequence: 2}, codes.InvalidArgument, "resume_from", false},
		{"resume past the end", &pb.DatasetRequest{Domain: "recruit", Source: &pb.DatasetRequest_FileName{FileName: good}, ResumeFromSequence: 1, ResumeFromRecord: 3001}, codes.InvalidArgument, "resume_from_record 3001", false},
		{"schema of another domain", fileRequest("candidate", good, ""), codes.InvalidArgument, "candidate_id", false},
		{"hostile pickle", fileRequest("recruit", hostile, ""), codes.FailedPrecondition, "refused", false},
		{"not a pickle", fileRequest("recruit", "junk.pkl", ""), codes.FailedPrecondition, "pickle", false},
		{"pickle bomb", fileRequest("recruit", bomb, ""), codes.ResourceExhausted, "limit", false},
		{"above MAX_FILE_BYTES", fileRequest("recruit", big, ""), codes.ResourceExhausted, "too large", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.raw {
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				call, err := pb.NewDatasetServiceClient(conn).StreamDataset(ctx, tt.req)
				if err == nil {
					_, err = call.Recv()
				}
				if status.Code(err) != tt.code || !strings.Contains(status.Convert(err).Message(), tt.msg) {
					t.Fatalf("StreamDataset: %v, want %v with %q", err, tt.code, tt.msg)
				}
				tt.msg = "" // and batchserver.Pull refuses it before calling
			}
			res, err := pullInto(t, bs, conn, tt.req)
			if tt.raw {
				if status.Code(err) != tt.code {
					t.Fatalf("pull: %v, want %v", err, tt.code)
				}
				return
			}
			if status.Code(err) != tt.code || !strings.Contains(status.Convert(err).Message(), tt.msg) {
				t.Fatalf("pull: %v, want %v with %q", err, tt.code, tt.msg)
			}
			if !strings.HasPrefix(status.Convert(err).Message(), "worker: ") {
				t.Errorf("message %q does not say the worker answered", status.Convert(err).Message())
			}
			if res.Outcome == batchserver.OutcomeCommitted || res.Outcome == batchserver.OutcomeDuplicate {
				t.Fatalf("outcome %s", res.Outcome)
			}
		})
	}
	if s := bs.Stats(); s.Commits != 0 || s.Staged != 0 {
		t.Fatalf("refused pulls left %d commits, %d stagings", s.Commits, s.Staged)
	}
}

// TestPullValidationFailsAfterChunks: rows failing the domain's checks
// late in the file end the stream with INVALID_ARGUMENT after chunks went
// out, naming the field and the row; the caller commits nothing and drops
// what it staged.
func TestPullValidationFailsAfterChunks(t *testing.T) {
	dir := t.TempDir()
	const rows = 4000
	name := writeRecruit(t, dir, "dup.pkl", rows, 32, func(s picklegen.Source) picklegen.Source { return duplicateLast{s} })
	w := startWorker(t, dir, workerOpts{cfg: pull.Config{ChunkRecords: 100}})
	conn := dial(t, w.Addr, nil, "")

	// The raw stream: chunks arrive, then the error.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	call, err := pb.NewDatasetServiceClient(conn).StreamDataset(ctx, fileRequest("recruit", name, "dup-1"))
	if err != nil {
		t.Fatal(err)
	}
	chunks := 0
	for {
		m, err := call.Recv()
		if err != nil {
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("stream ended with %v, want INVALID_ARGUMENT", err)
			}
			msg := status.Convert(err).Message()
			if !strings.Contains(msg, `field "recruit_id"`) || !strings.Contains(msg, "row 3999") {
				t.Fatalf("message %q names neither the field nor the row", msg)
			}
			break
		}
		if m.GetChunk() != nil {
			chunks++
		}
	}
	t.Logf("%d chunks before the error", chunks)

	// Through the batch server: nothing committed, nothing left staged.
	bs := newSink(t, batchserver.Config{StagingSyncBytes: 1})
	res, err := pullInto(t, bs, conn, fileRequest("recruit", name, "dup-2"))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("pull: %v, want INVALID_ARGUMENT", err)
	}
	if res.Outcome != batchserver.OutcomeRejected {
		t.Fatalf("outcome %s, want rejected", res.Outcome)
	}
	if _, ok := bs.Committed("dup-2"); ok {
		t.Fatal("committed")
	}
	if s := bs.Stats(); s.Staged != 0 || s.StagedBytes != 0 {
		t.Fatalf("staging kept: %+v", s)
	}
}

// TestPullCancelStopsTheStream: a caller that cancels mid-stream ends the
// call promptly: the encoder stops, the dataset goes back to the loader,
// the slot is free for the next call.
func TestPullCancelStopsTheStream(t *testing.T) {
	dir := t.TempDir()
	name := writeRecruit(t, dir, "r.pkl", 20000, 128, nil)
	done := newResults()
	var sent atomic.Uint64
	w := startWorker(t, dir, workerOpts{cfg: pull.Config{
		Concurrency: 1, ChunkRecords: 50,
		Hooks: pull.Hooks{Done: done.hook, Sent: func(_ string, chunks, _ uint64) { sent.Store(chunks) }},
	}})
	conn := dial(t, w.Addr, nil, "")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	call, err := pb.NewDatasetServiceClient(conn).StreamDataset(ctx, fileRequest("recruit", name, ""))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // the metadata and two chunks
		if _, err := call.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	res := done.next(t)
	if res.Code != codes.Canceled || !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("call ended with %v (%v), want CANCELED", res.Code, res.Err)
	}
	if res.Records >= 20000 {
		t.Fatalf("the whole dataset was sent (%d records) although the caller cancelled", res.Records)
	}
	if w.InFlight() != 0 {
		t.Fatalf("%d slots still taken", w.InFlight())
	}
	if n := w.Loader.PooledBuffers(); n != 1 {
		t.Fatalf("the loader's pool holds %d buffers, want the released dataset's 1", n)
	}
	// The one slot serves the next call.
	bs := newSink(t, batchserver.Config{})
	if _, err := pullInto(t, bs, conn, fileRequest("recruit", name, "after-cancel")); err != nil {
		t.Fatal(err)
	}
}

// TestPullFlowControl: a caller that does not read holds the stream back:
// the worker sends no more than gRPC's flow-control windows and buffers
// hold, however large the dataset, until the caller reads again.
func TestPullFlowControl(t *testing.T) {
	dir := t.TempDir()
	const rows = 40000
	name := writeRecruit(t, dir, "r.pkl", rows, 384, nil) // about 80 MB of chunks
	done := newResults()
	var sentBytes atomic.Uint64
	w := startWorker(t, dir, workerOpts{cfg: pull.Config{
		ChunkBytes: 256 << 10,
		Hooks:      pull.Hooks{Done: done.hook, Sent: func(_ string, _, bytes uint64) { sentBytes.Store(bytes) }},
	}})
	conn := dial(t, w.Addr, nil, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	call, err := pb.NewDatasetServiceClient(conn).StreamDataset(ctx, fileRequest("recruit", name, ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call.Recv(); err != nil { // the metadata only
		t.Fatal(err)
	}
	// The worker fills what the transport lets it send, then waits.
	polltest.Until(t, waitTimeout, "the worker to send 8 MiB", func() bool { return sentBytes.Load() >= 8<<20 })
	// 16 MiB windows (stream and connection), the transport's buffers and
	// write quota, and a chunk or two in flight: well under 40 MiB.
	const bound = 40 << 20
	cancel()
	res := done.next(t)
	if res.Bytes > bound {
		t.Fatalf("the worker sent %d bytes to a caller that read none (bound %d)", res.Bytes, bound)
	}
	t.Logf("sent %d bytes (%d chunks) before the caller cancelled", res.Bytes, res.Chunks)

	// A caller that reads gets everything.
	bs := newSink(t, batchserver.Config{Discard: true})
	got, err := pullInto(t, bs, conn, fileRequest("recruit", name, "flow"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Records != rows {
		t.Fatalf("pulled %d records, want %d", got.Records, rows)
	}
}

// TestPullConcurrency: ten pulls run at once; an eleventh, with all ten
// slots taken, is refused with RESOURCE_EXHAUSTED at once, and the ten
// commit the same data.
func TestPullConcurrency(t *testing.T) {
	dir := t.TempDir()
	name := copyFile(t, filepath.Join(samplesDir, "processed_candidate_data.pkl"), dir)
	started := make(chan string, 16)
	release := make(chan struct{})
	w := startWorker(t, dir, workerOpts{cfg: pull.Config{
		Concurrency: 10,
		Hooks: pull.Hooks{Started: func(id string) {
			started <- id
			<-release
		}},
	}})
	conn := dial(t, w.Addr, nil, "")
	bs := newSink(t, batchserver.Config{})

	errs := make(chan error, 10)
	for i := range 10 {
		go func() {
			_, err := pullInto(t, bs, conn, fileRequest("candidate", name, "c-"+string(rune('a'+i))))
			errs <- err
		}()
	}
	for range 10 {
		select {
		case <-started:
		case <-time.After(waitTimeout):
			t.Fatal("ten pulls did not all start")
		}
	}
	if n := w.InFlight(); n != 10 {
		t.Fatalf("%d in flight, want 10", n)
	}
	_, err := pullInto(t, bs, conn, fileRequest("candidate", name, "c-eleventh"))
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "pull slots") {
		t.Fatalf("eleventh pull: %v, want RESOURCE_EXHAUSTED", err)
	}
	close(release)
	for range 10 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(bs.OutputPath("candidate", "c-a"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		got, err := os.ReadFile(bs.OutputPath("candidate", "c-"+string(rune('a'+i))))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("pull %d committed other data", i)
		}
	}
	// The eleventh can go now.
	if _, err := pullInto(t, bs, conn, fileRequest("candidate", name, "c-eleventh")); err != nil {
		t.Fatal(err)
	}
}

// TestPullAuth: with a token configured, a call without it or with another
// is UNAUTHENTICATED; the health service answers without one.
func TestPullAuth(t *testing.T) {
	dir := t.TempDir()
	name := copyFile(t, filepath.Join(samplesDir, "processed_candidate_data.pkl"), dir)
	w := startWorker(t, dir, workerOpts{cfg: pull.Config{Token: "s3cret"}})
	bs := newSink(t, batchserver.Config{})
	for token, want := range map[string]codes.Code{"": codes.Unauthenticated, "wrong": codes.Unauthenticated, "s3cret": codes.OK} {
		_, err := pullInto(t, bs, dial(t, w.Addr, nil, token), fileRequest("candidate", name, "auth-"+token))
		if status.Code(err) != want {
			t.Errorf("token %q: %v, want %v", token, err, want)
		}
	}
	resp, err := healthpb.NewHealthClient(dial(t, w.Addr, nil, "")).Check(context.Background(), &healthpb.HealthCheckRequest{Service: pb.DatasetService_ServiceDesc.ServiceName})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health without a token: %v, %v", resp, err)
	}
}

// TestPullTLS: the pull server serves TLS and mutual TLS; a client without
// the certificate the server requires gets nothing.
func TestPullTLS(t *testing.T) {
	pki := tlstest.NewPKI(t)
	dir := t.TempDir()
	name := copyFile(t, filepath.Join(samplesDir, "processed_candidate_data.pkl"), dir)
	bs := newSink(t, batchserver.Config{})

	tc, err := pull.LoadTLS(pki.ServerCertFile, pki.ServerKeyFile, pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	w := startWorker(t, dir, workerOpts{cfg: pull.Config{TLS: tc}})
	withCert, err := batchserver.LoadClientTLS(pki.CAFile, pki.ClientCertFile, pki.ClientKeyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pullInto(t, bs, dial(t, w.Addr, withCert, ""), fileRequest("candidate", name, "mtls")); err != nil {
		t.Fatalf("mTLS pull: %v", err)
	}
	noCert, err := batchserver.LoadClientTLS(pki.CAFile, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pullInto(t, bs, dial(t, w.Addr, noCert, ""), fileRequest("candidate", name, "mtls-nocert")); status.Code(err) != codes.Unavailable {
		t.Fatalf("pull without a client certificate: %v, want UNAVAILABLE", err)
	}
	if _, err := pullInto(t, bs, dial(t, w.Addr, nil, ""), fileRequest("candidate", name, "mtls-plain")); status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext pull from a TLS server: %v, want UNAVAILABLE", err)
	}

	tc, err = pull.LoadTLS(pki.ServerCertFile, pki.ServerKeyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	w2 := startWorker(t, dir, workerOpts{cfg: pull.Config{TLS: tc}})
	if _, err := pullInto(t, bs, dial(t, w2.Addr, noCert, ""), fileRequest("candidate", name, "tls")); err != nil {
		t.Fatalf("TLS pull: %v", err)
	}
	if _, err := pull.LoadTLS("", "", pki.CAFile); err == nil {
		t.Fatal("a client CA without a certificate was accepted")
	}
}

// TestPullResumes: a pull cut off mid-stream keeps what it staged; pulling
// the same ingest_id again asks the worker to resume after it, and commits
// exactly what one whole pull commits. A committed id is not pulled again.
func TestPullResumes(t *testing.T) {
	dir := t.TempDir()
	name := copyFile(t, filepath.Join(samplesDir, "processed_recruitment_data.pkl"), dir)
	w := startWorker(t, dir, workerOpts{cfg: pull.Config{ChunkRecords: 200}})
	conn := dial(t, w.Addr, nil, "")

	whole := newSink(t, batchserver.Config{})
	if _, err := pullInto(t, whole, conn, fileRequest("recruit", name, "r-1")); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(whole.OutputPath("recruit", "r-1"))
	if err != nil {
		t.Fatal(err)
	}

	bs, ctx, cut := cutOff(t, 4)
	go func() {
		_, err := bs.Pull(ctx, conn, fileRequest("recruit", name, "r-1"))
		cut <- err
	}()
	if err := <-cut; status.Code(err) != codes.Canceled {
		t.Fatalf("cut-off pull: %v, want CANCELED", err)
	}
	if s := bs.Stats(); s.Staged != 1 {
		t.Fatalf("staging after the cut: %+v", s)
	}

	res, err := pullInto(t, bs, conn, fileRequest("recruit", name, "r-1"))
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedChunks < 4 || res.ResumedRecords != 200*res.ResumedChunks || res.ResumedRecords+res.Records != 3000 {
		t.Fatalf("resumed %d chunks, %d records, then %d records; want a resume after 4 chunks or more", res.ResumedChunks, res.ResumedRecords, res.Records)
	}
	got, err := os.ReadFile(bs.OutputPath("recruit", "r-1"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("the resumed pull committed other JSONL than a whole one")
	}

	again, err := pullInto(t, bs, conn, fileRequest("recruit", name, "r-1"))
	if err != nil || again.Outcome != batchserver.OutcomeDuplicate {
		t.Fatalf("pull of a committed id: %+v, %v; want a duplicate", again, err)
	}
}

// cutOff returns a batch server that stages every chunk, and the context of
// a pull into it that is cancelled once the pull has staged chunks chunks:
// the handler waits in the staging hook until the cancel is done, so the
// stream cannot finish first. Send the pull's error on the channel.
func cutOff(t *testing.T, chunks uint64) (*batchserver.Server, context.Context, chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var once sync.Once
	bs := newSink(t, batchserver.Config{StagingSyncBytes: 1, Hooks: batchserver.Hooks{
		ChunkStaged: func(_ string, n, _ uint64) {
			if n >= chunks {
				once.Do(cancel)
			}
		},
	}})
	return bs, ctx, make(chan error, 1)
}

// TestPullResumeOfAnotherFile: chunks staged from one file are not resumed
// by a pull of another under the same ingest_id: it streams whole and
// replaces them.
func TestPullResumeOfAnotherFile(t *testing.T) {
	dir := t.TempDir()
	a := writeRecruit(t, dir, "a.pkl", 2000, 16, nil)
	b := writeRecruit(t, dir, "b.pkl", 2000, 8, nil)
	w := startWorker(t, dir, workerOpts{cfg: pull.Config{ChunkRecords: 100}})
	conn := dial(t, w.Addr, nil, "")
	bs, ctx, cut := cutOff(t, 2)
	go func() {
		_, err := bs.Pull(ctx, conn, fileRequest("recruit", a, "x-1"))
		cut <- err
	}()
	if err := <-cut; status.Code(err) != codes.Canceled {
		t.Fatalf("cut-off pull: %v, want CANCELED", err)
	}
	res, err := pullInto(t, bs, conn, fileRequest("recruit", b, "x-1"))
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedChunks != 0 || res.Records != 2000 {
		t.Fatalf("pull of another file: %+v, want a whole stream", res)
	}
	e, _ := bs.Committed("x-1")
	if e.FileName != b {
		t.Fatalf("committed %q", e.FileName)
	}
}

// TestPullShutdown: when the worker stops, health turns NOT_SERVING, new
// calls are refused, and a call still running at the stop timeout is
// cancelled with UNAVAILABLE.
func TestPullShutdown(t *testing.T) {
	dir := t.TempDir()
	name := writeRecruit(t, dir, "r.pkl", 40000, 384, nil)
	done := newResults()
	var sent atomic.Uint64
	w := startWorker(t, dir, workerOpts{cfg: pull.Config{
		StopTimeout: 300 * time.Millisecond,
		Hooks:       pull.Hooks{Done: done.hook, Sent: func(_ string, chunks, _ uint64) { sent.Store(chunks) }},
	}})
	conn := dial(t, w.Addr, nil, "")
	wctx, stopWatch := context.WithCancel(t.Context())
	defer stopWatch()
	watch, err := healthpb.NewHealthClient(conn).Watch(wctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v, %v", st, err)
	}

	// A caller that stops reading keeps its call running.
	call, err := pb.NewDatasetServiceClient(conn).StreamDataset(t.Context(), fileRequest("recruit", name, ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call.Recv(); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, waitTimeout, "a chunk to go out", func() bool { return sent.Load() > 0 })

	stopped := make(chan error, 1)
	go func() { stopped <- w.stop() }()
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health during the stop: %v, %v", st, err)
	}
	stopWatch() // an open watch would hold the graceful stop too
	res := done.next(t)
	if res.Code != codes.Unavailable || !errors.Is(res.Err, pull.ErrStopping) {
		t.Fatalf("running call ended with %v (%v), want UNAVAILABLE", res.Code, res.Err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := call.Recv(); err != nil {
			if errors.Is(err, io.EOF) || status.Code(err) != codes.Unavailable {
				t.Fatalf("the caller saw %v, want UNAVAILABLE", err)
			}
			break
		}
	}
	bs := newSink(t, batchserver.Config{})
	if _, err := pullInto(t, bs, conn, fileRequest("recruit", name, "late")); status.Code(err) != codes.Unavailable {
		t.Fatalf("pull after the stop: %v, want UNAVAILABLE", err)
	}
}
