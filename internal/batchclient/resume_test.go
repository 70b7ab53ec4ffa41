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
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/batchclient"
	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/batchservertest"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/table"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// stateOf asks the server at addr what it holds for id.
func stateOf(t *testing.T, addr, id string) *pb.GetIngestStateResponse {
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

// drain empties s's chunk and stream-end channels.
func (s *server) drain() {
	for {
		select {
		case <-s.chunks:
		case <-s.done:
		default:
			return
		}
	}
}

// received returns the sequences of the chunks s has received since the
// last drain.
func (s *server) received() []uint64 {
	var seqs []uint64
	for {
		select {
		case seq := <-s.chunks:
			seqs = append(seqs, seq)
		default:
			return seqs
		}
	}
}

// waitDone waits for the end of the next stream at s and returns it.
func (s *server) waitDone(t *testing.T) batchserver.Result {
	t.Helper()
	select {
	case r := <-s.done:
		return r
	case <-time.After(waitTimeout):
		t.Fatal("server stream did not end")
		return batchserver.Result{}
	}
}

// interrupt streams src as m with c and breaks the stream off once its
// first k chunks are staged at s (s must sync every chunk: StagingSyncBytes
// 1): after the k-th chunk it waits until GetIngestState reports k staged,
// then cancels. The server keeps them staged. It drains s.
func interrupt(t *testing.T, s *server, c *batchclient.Client, m sink.Meta, src table.Source, opts sink.Options, k uint64) {
	t.Helper()
	cause := errors.New("test: stream broken off")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	_, err := c.Stream(ctx, m, src, opts, func(_, chunks, _ uint64) {
		if chunks == k {
			polltest.Until(t, waitTimeout, "chunks staged", func() bool { return stateOf(t, s.addr, m.IngestID).GetStagedChunks() == k })
			cancel(cause)
		}
	})
	if !errors.Is(err, cause) {
		t.Fatalf("interrupted stream: %v, want the cancel cause", err)
	}
	if r := s.waitDone(t); r.Outcome != batchserver.OutcomeAborted {
		t.Fatalf("interrupted stream ended %q, want aborted", r.Outcome)
	}
	s.drain()
	if st := stateOf(t, s.addr, m.IngestID); st.GetStagedChunks() != k || st.GetCommitted() {
		t.Fatalf("after the interruption: %v, want %d chunks staged", st, k)
	}
}

// checkOutput checks that id's committed file is byte for byte the
// canonical JSONL of tb.
func checkOutput(t *testing.T, s *server, id string, tb *table.Table) {
	t.Helper()
	got, err := os.ReadFile(s.srv.OutputPath("recruit", id))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, canonicalOf(t, tb)) {
		t.Fatalf("%s: committed file is not the canonical JSONL of the table", id)
	}
}

// TestResumeSendsOnlyTheMissingChunks: a stream broken off after 13 of 20
// chunks is resumed by the next attempt at chunk 13: it sends 7 chunks,
// says so (Result, Options.Resumed, progress from the resume point), and
// the committed file is exactly a full stream's.
func TestResumeSendsOnlyTheMissingChunks(t *testing.T) {
	t.Parallel()
	s := startServer(t, batchserver.Config{StagingSyncBytes: 1})
	c := newClient(t, batchclient.Config{Addr: s.addr})
	tb := sampleTable(1000, 8)
	opts := sink.Options{ChunkRecords: 50}
	interrupt(t, s, c, meta("resume"), tb, opts, 13)

	m := meta("resume")
	m.Attempt = 2
	var resumed [][2]uint64
	opts.Resumed = func(chunks, records uint64) { resumed = append(resumed, [2]uint64{chunks, records}) }
	var progress [][3]uint64
	res, err := c.Stream(context.Background(), m, tb, opts, func(r, ch, b uint64) { progress = append(progress, [3]uint64{r, ch, b}) })
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedChunks != 13 || res.ResumedRecords != 650 || res.ChunksReceived != 7 || res.RecordsReceived != 350 || res.Duplicate {
		t.Fatalf("result %+v, want 7 chunks and 350 records sent after 13 chunks and 650 records resumed", res)
	}
	if len(resumed) != 1 || resumed[0] != [2]uint64{13, 650} {
		t.Errorf("Options.Resumed told %v, want once (13, 650)", resumed)
	}
	if len(progress) != 7 || progress[0][0] != 700 || progress[0][1] != 14 || progress[6] != [3]uint64{1000, 20, res.BytesSent} {
		t.Errorf("progress %v, want 7 calls from (700, 14) to (1000, 20, %d)", progress, res.BytesSent)
	}
	if seqs := s.received(); len(seqs) != 7 || seqs[0] != 13 || seqs[6] != 19 {
		t.Errorf("server received chunks %v, want 13..19", seqs)
	}
	if r := s.waitDone(t); r.Outcome != batchserver.OutcomeCommitted || r.ResumedChunks != 13 {
		t.Errorf("server stream %+v, want committed, resumed from chunk 13", r)
	}
	if e, ok := s.srv.Committed("resume"); !ok || e.Chunks != 20 || e.Records != 1000 || e.ResumedFrom != 13 || e.Attempt != 2 {
		t.Errorf("ledger entry %+v, want 20 chunks, 1000 records, resumed from 13 by attempt 2", e)
	}
	checkOutput(t, s, "resume", tb)
}

// TestResumeWithEverythingStaged: every chunk staged but the stream not
// committed (the client vetoed the commit): the next attempt sends the
// metadata with the resume point at the end and no chunk, and commits.
// The staged state shows the chunk options the client declared.
func TestResumeWithEverythingStaged(t *testing.T) {
	t.Parallel()
	s := startServer(t, batchserver.Config{StagingSyncBytes: 1})
	c := newClient(t, batchclient.Config{Addr: s.addr})
	tb := sampleTable(300, 4)
	veto := errors.New("test: veto")
	_, err := c.Stream(context.Background(), meta("all-staged"), tb, sink.Options{ChunkRecords: 100, ChunkBytes: 1 << 19, BeforeCommit: func() error {
		polltest.Until(t, waitTimeout, "3 chunks staged", func() bool { return stateOf(t, s.addr, "all-staged").GetStagedChunks() == 3 })
		return veto
	}}, nil)
	if !errors.Is(err, veto) {
		t.Fatalf("vetoed stream: %v", err)
	}
	s.waitDone(t)
	s.drain()
	st := stateOf(t, s.addr, "all-staged")
	if st.GetStagedRecords() != 300 || st.GetChunkOptions().GetMaxRecords() != 100 || st.GetChunkOptions().GetTargetBytes() != 1<<19 {
		t.Fatalf("staged state %v, want 300 records and the client's chunk options (100 records, 512 KiB)", st)
	}

	m := meta("all-staged")
	m.Attempt = 2
	res, err := c.Stream(context.Background(), m, tb, sink.Options{ChunkRecords: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedChunks != 3 || res.ResumedRecords != 300 || res.ChunksReceived != 0 || res.BytesSent != 0 || res.Duplicate {
		t.Fatalf("result %+v, want everything resumed, nothing sent", res)
	}
	if seqs := s.received(); len(seqs) != 0 {
		t.Errorf("server received chunks %v, want none", seqs)
	}
	checkOutput(t, s, "all-staged", tb)
}

// TestResumeCommittedSendsMetadataOnly: once an ingest is committed, an
// attempt sends the metadata alone and gets duplicate=true.
func TestResumeCommittedSendsMetadataOnly(t *testing.T) {
	t.Parallel()
	s := startServer(t, batchserver.Config{})
	c := newClient(t, batchclient.Config{Addr: s.addr})
	tb := sampleTable(500, 4)
	if _, err := c.Stream(context.Background(), meta("done"), tb, sink.Options{ChunkRecords: 50}, nil); err != nil {
		t.Fatal(err)
	}
	s.waitDone(t)
	s.drain()
	m := meta("done")
	m.Attempt = 2
	progress := 0
	res, err := c.Stream(context.Background(), m, tb, sink.Options{ChunkRecords: 50}, func(_, _, _ uint64) { progress++ })
	if err != nil {
		t.Fatal(err)
	}
	if !res.Duplicate || res.ChunksReceived != 0 || res.BytesSent != 0 || res.ResumedChunks != 0 || progress != 0 {
		t.Fatalf("result %+v after %d progress calls, want a duplicate with nothing sent", res, progress)
	}
	if r := s.waitDone(t); r.Outcome != batchserver.OutcomeDuplicate {
		t.Errorf("server stream ended %q, want duplicate", r.Outcome)
	}
	if seqs := s.received(); len(seqs) != 0 {
		t.Errorf("server received chunks %v, want none", seqs)
	}
}

// TestResumeRefusedForAnotherDataset: chunks staged from another file,
// domain, record count or schema are not resumed: the attempt sends a
// full stream, which replaces them, and commits its own data.
func TestResumeRefusedForAnotherDataset(t *testing.T) {
	t.Parallel()
	tb := sampleTable(400, 4)
	for _, tc := range []struct {
		name string
		meta func(*sink.Meta)
		tb   *table.Table
	}{
		{"nothing staged", nil, nil},
		{"another file", func(m *sink.Meta) { m.SourceSHA256 = strings.Repeat("cd", 32) }, nil},
		{"another domain", func(m *sink.Meta) { m.Domain = "candidate" }, nil},
		{"another record count", nil, sampleTable(420, 4)},
		{"another schema", nil, sampleTable(400, 5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, batchserver.Config{StagingSyncBytes: 1})
			c := newClient(t, batchclient.Config{Addr: s.addr})
			opts := sink.Options{ChunkRecords: 40}
			if tc.name != "nothing staged" {
				interrupt(t, s, c, meta("other"), tb, opts, 6)
			}
			m := meta("other")
			m.Attempt = 2
			if tc.meta != nil {
				tc.meta(&m)
			}
			want := tb
			if tc.tb != nil {
				want = tc.tb
			}
			opts.Resumed = func(chunks, _ uint64) { t.Errorf("resumed at chunk %d", chunks) }
			res, err := c.Stream(context.Background(), m, want, opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			chunks := uint64((want.NumRows + 39) / 40)
			if res.ResumedChunks != 0 || res.ChunksReceived != chunks || res.RecordsReceived != uint64(want.NumRows) {
				t.Fatalf("result %+v, want a full stream of %d chunks", res, chunks)
			}
			if seqs := s.received(); len(seqs) == 0 || seqs[0] != 0 {
				t.Errorf("server received chunks %v, want from 0", seqs)
			}
			if e, ok := s.srv.Committed("other"); !ok || e.SHA256 != m.SourceSHA256 || e.Domain != m.Domain || e.ResumedFrom != 0 {
				t.Errorf("ledger entry %+v, want a full stream of the second attempt's data", e)
			}
			got, err := os.ReadFile(s.srv.OutputPath(m.Domain, "other"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, canonicalOf(t, want)) {
				t.Error("committed file is not the canonical JSONL of the second attempt's table")
			}
		})
	}
}

// TestResumeAbortedWhenTheStagingChanged: the staging changes between
// the attempt's GetIngestState and its stream (another stream of the id
// replaces it): the server answers the resume ABORTED, a transient
// failure, and the next attempt asks again and streams in full.
func TestResumeAbortedWhenTheStagingChanged(t *testing.T) {
	t.Parallel()
	s := startServer(t, batchserver.Config{StagingSyncBytes: 1})
	c := newClient(t, batchclient.Config{Addr: s.addr})
	tb := sampleTable(400, 4)
	opts := sink.Options{ChunkRecords: 40}
	interrupt(t, s, c, meta("moved"), tb, opts, 6)

	// Another client replaces the staging with 2 chunks of another file
	// after this attempt has asked.
	other := newClient(t, batchclient.Config{Addr: s.addr})
	om := meta("moved")
	om.SourceSHA256, om.Attempt = strings.Repeat("ef", 32), 2
	batchclient.SetAfterPlan(c, func() {
		batchclient.SetAfterPlan(c, nil)
		interrupt(t, s, other, om, tb, opts, 2)
	})
	m := meta("moved")
	m.Attempt = 3
	_, err := c.Stream(context.Background(), m, tb, opts, nil)
	if !errors.Is(err, sink.ErrUnavailable) || status.Code(err) != codes.Aborted {
		t.Fatalf("resume of a changed staging: %v, want ErrUnavailable with ABORTED", err)
	}
	s.waitDone(t)
	s.drain()

	m.Attempt = 4
	res, err := c.Stream(context.Background(), m, tb, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedChunks != 0 || res.ChunksReceived != 10 {
		t.Fatalf("result %+v, want a full stream of 10 chunks", res)
	}
	checkOutput(t, s, "moved", tb)
}

// stateRefusing is a real gRPC server whose GetIngestState fails with
// code, and which fails the test if a stream is opened.
type stateRefusing struct {
	pb.UnimplementedEmbeddingStreamServiceServer
	t       *testing.T
	code    codes.Code
	streams atomic.Int32
}

func (r *stateRefusing) GetIngestState(context.Context, *pb.GetIngestStateRequest) (*pb.GetIngestStateResponse, error) {
	return nil, status.Error(r.code, "refused by test server")
}

func (r *stateRefusing) IngestDataStream(grpc.ClientStreamingServer[pb.IngestDataRequest, pb.IngestDataResponse]) error {
	r.streams.Add(1)
	return status.Error(codes.Internal, "no stream expected")
}

// TestGetIngestStateErrors: a GetIngestState failure fails the attempt,
// classified as a stream's failure would be, before any stream opens.
func TestGetIngestStateErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code codes.Code
		want error
	}{
		{codes.Unavailable, sink.ErrUnavailable},
		{codes.ResourceExhausted, sink.ErrUnavailable},
		{codes.Internal, sink.ErrUnavailable},
		{codes.InvalidArgument, sink.ErrRejected},
	} {
		t.Run(tc.code.String(), func(t *testing.T) {
			t.Parallel()
			srv := &stateRefusing{t: t, code: tc.code}
			gs := grpc.NewServer()
			pb.RegisterEmbeddingStreamServiceServer(gs, srv)
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = gs.Serve(lis) }()
			t.Cleanup(gs.Stop)
			c := newClient(t, batchclient.Config{Addr: lis.Addr().String()})
			_, err = c.Stream(context.Background(), meta("x"), sampleTable(20, 2), sink.Options{}, nil)
			if !errors.Is(err, tc.want) || status.Code(err) != tc.code || !strings.Contains(err.Error(), "get ingest state") {
				t.Fatalf("got %v (code %v), want %v with %v from get ingest state", err, status.Code(err), tc.want, tc.code)
			}
			if n := srv.streams.Load(); n != 0 {
				t.Errorf("%d streams opened after GetIngestState failed", n)
			}
		})
	}
}

// v1Recorder is a real gRPC server of contract v1 in all that the client
// can see: GetIngestState is UNIMPLEMENTED (counted by an interceptor),
// and IngestDataStream commits whatever full stream it gets. It records
// every stream's metadata, so a test can check the client never sent a v2
// field. Unlike the in-process v1 emulation (batchserver.ContractV1) or
// the Python v1 server, it sees the v2 fields.
type v1Recorder struct {
	pb.UnimplementedEmbeddingStreamServiceServer
	stateCalls atomic.Int32
	metas      chan *pb.IngestMetadata
}

func (r *v1Recorder) IngestDataStream(s grpc.ClientStreamingServer[pb.IngestDataRequest, pb.IngestDataResponse]) error {
	var md *pb.IngestMetadata
	var records, chunks uint64
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if md == nil {
			md = m.GetMetadata()
			r.metas <- md
			continue
		}
		records += uint64(m.GetChunk().GetRecordCount())
		chunks++
	}
	return s.SendAndClose(&pb.IngestDataResponse{IngestId: md.GetIngestId(), RecordsReceived: records, ChunksReceived: chunks})
}

// TestV1ServerGetsFullV1Streams: against a v1 server, attempts send full
// streams with v1 metadata (no resume point, no chunk options), and the
// client asks GetIngestState once per connection.
func TestV1ServerGetsFullV1Streams(t *testing.T) {
	t.Parallel()
	rec := &v1Recorder{metas: make(chan *pb.IngestMetadata, 16)}
	gs := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if strings.HasSuffix(info.FullMethod, "/GetIngestState") {
			rec.stateCalls.Add(1)
		}
		return h(ctx, req)
	}))
	pb.RegisterEmbeddingStreamServiceServer(gs, rec)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	var logs syncBuffer
	c, err := batchclient.New(context.Background(), batchclient.Config{Addr: lis.Addr().String()}, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tb := sampleTable(300, 4)
	for attempt := uint32(1); attempt <= 3; attempt++ {
		m := meta("v1-job")
		m.Attempt = attempt
		res, err := c.Stream(context.Background(), m, tb, sink.Options{ChunkRecords: 100}, nil)
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		if res.ChunksReceived != 3 || res.RecordsReceived != 300 || res.ResumedChunks != 0 {
			t.Fatalf("attempt %d: %+v, want a full stream", attempt, res)
		}
		md := <-rec.metas
		if md.GetResumeFromSequence() != 0 || md.GetResumeFromRecord() != 0 || md.GetChunkOptions() != nil || md.GetAttempt() != attempt {
			t.Errorf("attempt %d sent metadata %v, want v1 fields only", attempt, md)
		}
	}
	if n := rec.stateCalls.Load(); n != 1 {
		t.Errorf("GetIngestState called %d times on one connection, want once", n)
	}
	if n := strings.Count(logs.String(), "speaks contract v1"); n != 1 {
		t.Errorf("logged the v1 server %d times, want once:\n%s", n, logs.String())
	}
}

// TestPythonV1ServerGetsFullStreams: against the Python server written
// from the v1 contract alone (it answers GetIngestState UNIMPLEMENTED and
// would see a resumed stream as a sequence gap), an attempt broken off
// mid-stream is retried as a full stream, which commits every record.
func TestPythonV1ServerGetsFullStreams(t *testing.T) {
	t.Parallel()
	v1 := batchservertest.StartPythonV1(t)
	var logs syncBuffer
	c, err := batchclient.New(context.Background(), batchclient.Config{Addr: v1.Addr}, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tb := sampleTable(2000, 8)
	opts := sink.Options{ChunkRecords: 100}

	cause := errors.New("test: stream broken off")
	ctx, cancel := context.WithCancelCause(context.Background())
	_, err = c.Stream(ctx, meta("py-v1"), tb, opts, func(_, chunks, _ uint64) {
		if chunks == 5 {
			cancel(cause)
		}
	})
	cancel(nil)
	if !errors.Is(err, cause) {
		t.Fatalf("broken-off stream: %v", err)
	}

	m := meta("py-v1")
	m.Attempt = 2
	opts.Resumed = func(chunks, _ uint64) { t.Errorf("resumed at chunk %d on a v1 server", chunks) }
	// The server may not have seen the broken-off stream end yet: it then
	// answers ABORTED ("being received on another stream"), which a worker
	// retries after its backoff; so does the test.
	var res sink.Result
	polltest.Until(t, waitTimeout, "the retry to be accepted", func() bool {
		res, err = c.Stream(context.Background(), m, tb, opts, nil)
		if status.Code(err) == codes.Aborted {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		return true
	})
	if res.ChunksReceived != 20 || res.RecordsReceived != 2000 || res.ResumedChunks != 0 {
		t.Fatalf("result %+v, want a full stream of 20 chunks", res)
	}
	e, ok := v1.Committed(t, "py-v1")
	if !ok || e.Chunks != 20 || e.Records != 2000 || e.Attempt != 2 {
		t.Fatalf("Python ledger entry %+v, want 20 chunks and 2000 records from attempt 2", e)
	}
	recs := v1.Records(t, "recruit", "py-v1")
	if len(recs) != 2000 || fmt.Sprint(recs[1999]["recruit_id"]) != fmt.Sprint(int64(1999)*7919-3) {
		t.Fatalf("Python server committed %d records, want the table's 2000", len(recs))
	}
	if n := strings.Count(logs.String(), "speaks contract v1"); n != 1 {
		t.Errorf("logged the v1 server %d times, want once:\n%s", n, logs.String())
	}
}
