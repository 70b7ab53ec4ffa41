package batchclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/batchservertest"
	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/chunk"
	"github.com/embedstream/embedstream/internal/ingest"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/table"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

const waitTimeout = 20 * time.Second

// The worker's Processor streams through a Client.
var _ ingest.Streamer = (*batchclient.Client)(nil)

var sha = strings.Repeat("ab", 32)

// server is a reference batch server on loopback.
type server struct {
	srv    *batchserver.Server
	addr   string
	chunks chan uint64 // sequence of every chunk received
	done   chan batchserver.Result
}

func startServer(t *testing.T, cfg batchserver.Config) *server {
	t.Helper()
	cfg.OutDir = t.TempDir()
	s := &server{chunks: make(chan uint64, 4096), done: make(chan batchserver.Result, 64)}
	cfg.Hooks.ChunkReceived = func(_ string, seq uint64) { s.chunks <- seq }
	cfg.Hooks.StreamDone = func(r batchserver.Result) { s.done <- r }
	bs := batchservertest.Start(t, cfg, zerolog.Nop())
	s.srv, s.addr = bs.Server, bs.Addr
	return s
}

func newClient(t *testing.T, cfg batchclient.Config) *batchclient.Client {
	t.Helper()
	c, err := batchclient.New(context.Background(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// sampleTable has every kind of column the sizer treats differently, with
// nulls, and n rows.
func sampleTable(n, dim int) *table.Table {
	id := &table.Column{Field: table.Field{Name: "recruit_id", Type: table.TypeInt64}}
	title := &table.Column{Field: table.Field{Name: "title", Type: table.TypeString, Nullable: true}}
	skills := &table.Column{Field: table.Field{Name: "skills", Type: table.TypeStringList}}
	years := &table.Column{Field: table.Field{Name: "min_career_years", Type: table.TypeDouble}}
	emb := &table.Column{Field: table.Field{Name: "embedding", Type: table.TypeFloatVector, VectorDim: dim}}
	for i := range n {
		id.Int64s = append(id.Int64s, int64(i)*7919-3)
		if i%5 == 3 {
			title.Strings = append(title.Strings, "")
			title.Nulls = append(title.Nulls, i)
		} else {
			title.Strings = append(title.Strings, fmt.Sprintf("백엔드 engineer #%d %s", i, strings.Repeat("x", i%40)))
		}
		skills.StringLists = append(skills.StringLists, []string{"go", fmt.Sprint("k", i%3)})
		years.Doubles = append(years.Doubles, float64(i%11)/2)
		for d := range dim {
			emb.Vectors = append(emb.Vectors, float32(i)+float32(d)/float32(dim))
		}
	}
	return &table.Table{Columns: []*table.Column{id, title, skills, years, emb}, NumRows: n}
}

func meta(id string) sink.Meta {
	return sink.Meta{IngestID: id, Domain: "recruit", FileName: "f.pkl", Attempt: 1, SourceSHA256: sha, EnqueuedAt: time.Now()}
}

func canonicalOf(t *testing.T, tb *table.Table) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := canonical.WriteTable(&buf, tb); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestStreamCommitsAllRowsInBoundedChunks(t *testing.T) {
	t.Parallel()
	s := startServer(t, batchserver.Config{})
	c := newClient(t, batchclient.Config{Addr: s.addr})
	tb := sampleTable(3000, 16)

	var calls int
	var last [3]uint64
	res, err := c.Stream(context.Background(), meta("job-1"), tb, sink.Options{ChunkBytes: 16 << 10, ChunkRecords: 500},
		func(records, chunks, bytes uint64) { calls++; last = [3]uint64{records, chunks, bytes} })
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsReceived != 3000 || res.Duplicate {
		t.Fatalf("result %+v, want 3000 records, not duplicate", res)
	}
	// 16 KiB chunks of ~100-byte rows: many more chunks than the record
	// bound alone (6) would give.
	if res.ChunksReceived < 10 {
		t.Errorf("%d chunks; the byte bound should have cut more", res.ChunksReceived)
	}
	if uint64(calls) != res.ChunksReceived || last[0] != 3000 || last[1] != res.ChunksReceived || last[2] != res.BytesSent {
		t.Errorf("progress: %d calls, last %v; result %+v", calls, last, res)
	}
	if avg := res.BytesSent / res.ChunksReceived; avg > 16<<10 {
		t.Errorf("average chunk %d bytes, above the 16 KiB target", avg)
	}
	got, err := os.ReadFile(s.srv.OutputPath("recruit", "job-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := canonical.Compare(bytes.NewReader(got), bytes.NewReader(canonicalOf(t, tb))); err != nil {
		t.Fatalf("committed file differs: %v", err)
	}
}

func TestStreamRecordBoundAndDuplicate(t *testing.T) {
	t.Parallel()
	s := startServer(t, batchserver.Config{})
	c := newClient(t, batchclient.Config{Addr: s.addr})
	tb := sampleTable(1000, 4)
	res, err := c.Stream(context.Background(), meta("job-2"), tb, sink.Options{ChunkRecords: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ChunksReceived != 10 {
		t.Errorf("%d chunks, want 10 of 100 records", res.ChunksReceived)
	}
	m := meta("job-2")
	m.Attempt = 2
	res, err = c.Stream(context.Background(), m, tb, sink.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Duplicate {
		t.Errorf("second stream of job-2: %+v, want duplicate", res)
	}
	if st := s.srv.Stats(); st.Commits != 1 || st.Duplicates != 1 {
		t.Errorf("server stats %+v, want 1 commit and 1 duplicate", st)
	}
}

func TestStreamZeroRecords(t *testing.T) {
	t.Parallel()
	s := startServer(t, batchserver.Config{})
	c := newClient(t, batchclient.Config{Addr: s.addr})
	res, err := c.Stream(context.Background(), meta("empty"), sampleTable(0, 8), sink.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsReceived != 0 || res.ChunksReceived != 0 {
		t.Errorf("result %+v, want an empty commit", res)
	}
	if _, ok := s.srv.Committed("empty"); !ok {
		t.Error("zero-record stream not committed")
	}
}

func TestStreamUnavailableIsTransient(t *testing.T) {
	t.Parallel()
	s := startServer(t, batchserver.Config{FailFirst: 1})
	c := newClient(t, batchclient.Config{Addr: s.addr})
	tb := sampleTable(50, 4)
	_, err := c.Stream(context.Background(), meta("flaky"), tb, sink.Options{}, nil)
	if !errors.Is(err, sink.ErrUnavailable) || errors.Is(err, sink.ErrRejected) {
		t.Fatalf("first stream: %v, want ErrUnavailable", err)
	}
	if status.Code(err) != codes.Unavailable {
		t.Errorf("error %q does not carry the gRPC status", err)
	}
	if _, err := c.Stream(context.Background(), meta("flaky"), tb, sink.Options{}, nil); err != nil {
		t.Fatalf("retry: %v", err)
	}
}

func TestStreamNoServerIsTransient(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now
	c := newClient(t, batchclient.Config{Addr: addr, ReadyTimeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err = c.Stream(ctx, meta("nobody"), sampleTable(3, 2), sink.Options{}, nil)
	if !errors.Is(err, sink.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	// The error says what happened, and carries UNAVAILABLE.
	if want := "batch server at " + addr + " not reachable for 1s: "; !strings.Contains(err.Error(), want) ||
		!strings.HasSuffix(err.Error(), "connection refused") {
		t.Errorf("error %q, want %q ... connection refused", err, want)
	}
	if status.Code(err) != codes.Unavailable {
		t.Errorf("status code of %v is %v, want Unavailable", err, status.Code(err))
	}
}

// refusing is a real gRPC server that answers every stream with one code,
// after reading the whole stream.
type refusing struct {
	pb.UnimplementedEmbeddingStreamServiceServer
	code codes.Code
}

func (r refusing) IngestDataStream(s grpc.ClientStreamingServer[pb.IngestDataRequest, pb.IngestDataResponse]) error {
	for {
		if _, err := s.Recv(); err == io.EOF {
			return status.Error(r.code, "refused by test server")
		} else if err != nil {
			return err
		}
	}
}

func TestStreamClassifiesCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code codes.Code
		want error
	}{
		{codes.InvalidArgument, sink.ErrRejected},
		{codes.FailedPrecondition, sink.ErrRejected},
		{codes.Unavailable, sink.ErrUnavailable},
		{codes.ResourceExhausted, sink.ErrUnavailable},
		{codes.Aborted, sink.ErrUnavailable},
		{codes.DeadlineExceeded, sink.ErrUnavailable},
	} {
		t.Run(tc.code.String(), func(t *testing.T) {
			t.Parallel()
			gs := grpc.NewServer()
			pb.RegisterEmbeddingStreamServiceServer(gs, refusing{code: tc.code})
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = gs.Serve(lis) }()
			t.Cleanup(gs.Stop)
			c := newClient(t, batchclient.Config{Addr: lis.Addr().String()})
			_, err = c.Stream(context.Background(), meta("x"), sampleTable(20, 2), sink.Options{}, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if status.Code(err) != tc.code {
				t.Errorf("status code of %v is %v, want %v", err, status.Code(err), tc.code)
			}
		})
	}
}

func TestStreamCancelReturnsCauseAndCommitsNothing(t *testing.T) {
	t.Parallel()
	s := startServer(t, batchserver.Config{ChunkDelay: 20 * time.Millisecond})
	c := newClient(t, batchclient.Config{Addr: s.addr})
	cause := errors.New("test: worker stopping")
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		select {
		case <-s.chunks: // the stream is under way
			cancel(cause)
		case <-time.After(waitTimeout):
		}
	}()
	_, err := c.Stream(ctx, meta("cut"), sampleTable(2000, 8), sink.Options{ChunkRecords: 10}, nil)
	if !errors.Is(err, cause) {
		t.Fatalf("got %v, want the cancel cause", err)
	}
	select {
	case r := <-s.done:
		if r.Outcome != batchserver.OutcomeAborted {
			t.Errorf("server outcome %q, want aborted", r.Outcome)
		}
	case <-time.After(waitTimeout):
		t.Fatal("server stream did not end")
	}
	if _, ok := s.srv.Committed("cut"); ok {
		t.Error("a cancelled stream was committed")
	}
}

func TestStreamRecordTooLarge(t *testing.T) {
	t.Parallel()
	s := startServer(t, batchserver.Config{})
	c := newClient(t, batchclient.Config{Addr: s.addr, MaxMsgBytes: 64 << 10})
	tb := sampleTable(10, 2)
	tb.Column("title").Strings[4] = strings.Repeat("y", 100<<10)
	_, err := c.Stream(context.Background(), meta("big"), tb, sink.Options{}, nil)
	if !errors.Is(err, chunk.ErrRecordTooLarge) || !errors.Is(err, sink.ErrRejected) {
		t.Fatalf("got %v, want ErrRecordTooLarge", err)
	}
	if _, ok := s.srv.Committed("big"); ok {
		t.Error("committed a stream that failed")
	}
}

func TestStreamRefusesBadMetadataLocally(t *testing.T) {
	t.Parallel()
	c := newClient(t, batchclient.Config{Addr: "127.0.0.1:1"})
	m := meta("bad id/with slash")
	if _, err := c.Stream(context.Background(), m, sampleTable(1, 1), sink.Options{}, nil); !errors.Is(err, sink.ErrRejected) {
		t.Errorf("bad ingest_id: %v, want ErrRejected", err)
	}
	m = meta("ok")
	m.SourceSHA256 = "nope"
	if _, err := c.Stream(context.Background(), m, sampleTable(1, 1), sink.Options{}, nil); !errors.Is(err, sink.ErrRejected) {
		t.Errorf("bad sha256: %v, want ErrRejected", err)
	}
}

func zeroLog() zerolog.Logger { return zerolog.Nop() }

func TestStreamBeforeCommitErrorCommitsNothing(t *testing.T) {
	t.Parallel()
	s := startServer(t, batchserver.Config{})
	c := newClient(t, batchclient.Config{Addr: s.addr})
	veto := errors.New("test: data refused while streaming")
	calls := 0
	_, err := c.Stream(context.Background(), meta("vetoed"), sampleTable(500, 4),
		sink.Options{ChunkRecords: 50, BeforeCommit: func() error { calls++; return veto }}, nil)
	if !errors.Is(err, veto) || calls != 1 {
		t.Fatalf("got %v after %d calls, want the veto after 1", err, calls)
	}
	select {
	case r := <-s.done:
		if r.Outcome != batchserver.OutcomeAborted {
			t.Errorf("server outcome %q, want aborted", r.Outcome)
		}
	case <-time.After(waitTimeout):
		t.Fatal("server stream did not end")
	}
	if _, ok := s.srv.Committed("vetoed"); ok {
		t.Fatal("a vetoed stream was committed")
	}
	// A nil verdict commits (resuming what the vetoed stream staged, if
	// anything: the records count the whole dataset with those).
	res, err := c.Stream(context.Background(), meta("vetoed"), sampleTable(500, 4),
		sink.Options{BeforeCommit: func() error { return nil }}, nil)
	if err != nil || res.ResumedRecords+res.RecordsReceived != 500 {
		t.Fatalf("%+v, %v", res, err)
	}
	checkOutput(t, s, "vetoed", sampleTable(500, 4))
}

// syncBuffer is a log sink safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestNewConnectsAtOnce: New dials the server before any stream, with its
// context, and says so once connected.
func TestNewConnectsAtOnce(t *testing.T) {
	t.Parallel()
	s := startServer(t, batchserver.Config{OutDir: t.TempDir()})
	var logs syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := batchclient.New(ctx, batchclient.Config{Addr: s.addr}, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	polltest.Until(t, waitTimeout, "the client to connect before any stream", func() bool {
		return strings.Contains(logs.String(), "batch server connected")
	})
}
