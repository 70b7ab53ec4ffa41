package batchservertest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/embedstream/embedstream/internal/batchservertest"
	"github.com/embedstream/embedstream/internal/polltest"
	"github.com/embedstream/embedstream/internal/table"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// v1Table returns n rows of a few field types, with nulls.
func v1Table(n int) *table.Table {
	cols := []*table.Column{
		{Field: table.Field{Name: "id", Type: table.TypeInt64}},
		{Field: table.Field{Name: "title", Type: table.TypeString, Nullable: true}},
		{Field: table.Field{Name: "embedding", Type: table.TypeFloatVector, VectorDim: 2}},
		{Field: table.Field{Name: "skills", Type: table.TypeStringList}},
	}
	for r := range n {
		cols[0].Int64s = append(cols[0].Int64s, int64(r))
		cols[1].Strings = append(cols[1].Strings, "데이터 엔지니어")
		if r%3 == 1 {
			cols[1].Strings[r] = ""
			cols[1].Nulls = append(cols[1].Nulls, r)
		}
		cols[2].Vectors = append(cols[2].Vectors, 0.5, float32(r))
		cols[3].StringLists = append(cols[3].StringLists, []string{"go"})
	}
	return &table.Table{NumRows: n, Columns: cols}
}

// v1Stream returns the metadata and chunks (per rows each) of tb; with
// resume > 0, a v2 resumed stream starting at chunk resume.
func v1Stream(id string, tb *table.Table, per int, resume uint64) []*pb.IngestDataRequest {
	md := &pb.IngestMetadata{
		IngestId: id, Domain: "recruit", FileName: "recruit.pkl", TotalRecords: uint64(tb.NumRows), Attempt: 1,
		Schema: wire.SchemaToProto(tb.Schema()), SourceSha256: strings.Repeat("ab", 32),
	}
	if resume > 0 {
		md.ResumeFromSequence, md.ResumeFromRecord, md.Attempt = resume, resume*uint64(per), 2
	}
	msgs := []*pb.IngestDataRequest{{Payload: &pb.IngestDataRequest_Metadata{Metadata: md}}}
	for lo, seq := 0, uint64(0); lo < tb.NumRows; lo, seq = lo+per, seq+1 {
		if seq >= resume {
			c := wire.ChunkToProto(tb, lo, min(lo+per, tb.NumRows), seq)
			msgs = append(msgs, &pb.IngestDataRequest{Payload: &pb.IngestDataRequest_Chunk{Chunk: c}})
		}
	}
	return msgs
}

// sendAll streams msgs as a well-behaved client and returns the answer.
func sendAll(ctx context.Context, c pb.EmbeddingStreamServiceClient, msgs []*pb.IngestDataRequest) (*pb.IngestDataResponse, error) {
	st, err := c.IngestDataStream(ctx, grpc.WaitForReady(true))
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if err := st.Send(m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
	}
	return st.CloseAndRecv()
}

// TestPythonV1Server: the Python v1 server commits a Go client's stream,
// answers a repeat duplicate=true, GetIngestState UNIMPLEMENTED, and a
// resumed stream INVALID_ARGUMENT (a sequence gap to v1), and commits
// nothing of a broken stream.
func TestPythonV1Server(t *testing.T) {
	t.Parallel()
	p := batchservertest.StartPythonV1(t)
	cc, err := grpc.NewClient(p.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := pb.NewEmbeddingStreamServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tb := v1Table(25)

	resp, err := sendAll(ctx, c, v1Stream("job-py", tb, 10, 0))
	if err != nil || resp.GetRecordsReceived() != 25 || resp.GetChunksReceived() != 3 || resp.GetDuplicate() {
		t.Fatalf("stream: %v, %v", resp, err)
	}
	e, ok := p.Committed(t, "job-py")
	if !ok || e.Records != 25 || e.Chunks != 3 || e.Domain != "recruit" || e.SHA256 != strings.Repeat("ab", 32) {
		t.Fatalf("ledger entry %+v, %v", e, ok)
	}
	recs := p.Records(t, "recruit", "job-py")
	if len(recs) != 25 {
		t.Fatalf("%d records committed, want 25", len(recs))
	}
	got, _ := json.Marshal(recs[1])
	if want := `{"embedding":[0.5,1.0],"id":1,"skills":["go"],"title":null}`; string(got) != want {
		t.Fatalf("record 1: %s, want %s", got, want)
	}
	if resp, err := sendAll(ctx, c, v1Stream("job-py", tb, 10, 0)); err != nil || !resp.GetDuplicate() {
		t.Fatalf("repeat: %v, %v; want duplicate", resp, err)
	}

	_, err = c.GetIngestState(ctx, &pb.GetIngestStateRequest{IngestId: "job-py"})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("GetIngestState: %v, want UNIMPLEMENTED", err)
	}
	_, err = sendAll(ctx, c, v1Stream("job-py-resume", tb, 10, 2))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "chunk sequence 2, want 0") {
		t.Fatalf("resumed stream: %v, want INVALID_ARGUMENT for the gap", err)
	}
	if _, ok := p.Committed(t, "job-py-resume"); ok {
		t.Fatal("the resumed stream committed")
	}

	// A broken stream commits nothing; the full retry commits (once the
	// server has seen the cancellation: until then it is ABORTED, as a
	// stream of an id in flight).
	bctx, bcancel := context.WithCancel(ctx)
	st, err := c.IngestDataStream(bctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range v1Stream("job-py-broken", tb, 10, 0)[:2] {
		if err := st.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	bcancel()
	if _, ok := p.Committed(t, "job-py-broken"); ok {
		t.Fatal("the broken stream committed")
	}
	polltest.Until(t, time.Minute, "the retry of the broken stream to commit", func() bool {
		_, err := sendAll(ctx, c, v1Stream("job-py-broken", tb, 10, 0))
		if status.Code(err) == codes.Aborted {
			return false
		}
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
		return true
	})
	if e, ok := p.Committed(t, "job-py-broken"); !ok || e.Records != 25 {
		t.Fatalf("retry: %+v, %v", e, ok)
	}
}
