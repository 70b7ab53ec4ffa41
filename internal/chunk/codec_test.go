package chunk_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/embedstream/embedstream/internal/chunk"
	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/table"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// pullTable is a small table with nulls and vectors.
func pullTable(n int) *table.Table {
	id := &table.Column{Field: table.Field{Name: "id", Type: table.TypeString}}
	v := &table.Column{Field: table.Field{Name: "v", Type: table.TypeFloatVector, VectorDim: 3, Nullable: true}}
	for i := range n {
		id.Strings = append(id.Strings, strings.Repeat("x", i%17))
		v.Vectors = append(v.Vectors, float32(i), -1, 0.5)
		if i%9 == 4 {
			v.Nulls = append(v.Nulls, i)
		}
	}
	return &table.Table{Columns: []*table.Column{id, v}, NumRows: n}
}

// TestCodecOnAServerStream serves a dataset the way a pull server will: a
// real gRPC server stream (a test service) whose handler sends the
// metadata and the encoded chunks through Codec. The client decodes
// ordinary IngestDataRequest messages: the metadata, then chunks equal to
// wire.ChunkToProto of the same rows.
func TestCodecOnAServerStream(t *testing.T) {
	t.Parallel()
	tb := pullTable(700)
	meta := sink.Meta{IngestID: "pull-1", Domain: "recruit", FileName: "f.pkl", Attempt: 1, SourceSHA256: strings.Repeat("0f", 32)}
	handler := func(_ any, ss grpc.ServerStream) error {
		var req pb.IngestDataResponse // any message: the request is not used here
		if err := ss.RecvMsg(&req); err != nil {
			return err
		}
		enc := chunk.NewEncoder(tb, chunk.Options{Records: 64})
		md, err := enc.Metadata(meta, chunk.Start{})
		if err != nil {
			return err
		}
		if err := ss.SendMsg(md); err != nil {
			return err
		}
		return enc.Pipe(ss.Context(), chunk.Start{}, func(m *chunk.Message) error { return ss.SendMsg(m) })
	}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(chunk.Codec()))
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "chunktest.Pull",
		HandlerType: (*any)(nil),
		Streams:     []grpc.StreamDesc{{StreamName: "Pull", Handler: handler, ServerStreams: true}},
	}, struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/chunktest.Pull/Pull")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(&pb.IngestDataResponse{}); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var got []*pb.IngestDataRequest
	for {
		m := new(pb.IngestDataRequest)
		err := st.RecvMsg(m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if len(got) < 2 {
		t.Fatalf("received %d messages", len(got))
	}
	md := got[0].GetMetadata()
	if md == nil || md.GetIngestId() != "pull-1" || md.GetTotalRecords() != 700 || len(md.GetSchema()) != 2 {
		t.Fatalf("first message %v, want the metadata", got[0])
	}
	next := 0
	for i, m := range got[1:] {
		c := m.GetChunk()
		if c == nil || c.GetSequence() != uint64(i) || c.GetFirstRecord() != uint64(next) {
			t.Fatalf("message %d: %v, want chunk %d from record %d", i+1, m, i, next)
		}
		hi := next + int(c.GetRecordCount())
		if want := wire.ChunkToProto(tb, next, hi, uint64(i)); !proto.Equal(c, want) {
			t.Fatalf("chunk %d differs from wire.ChunkToProto of records [%d, %d)", i, next, hi)
		}
		next = hi
	}
	if next != tb.NumRows {
		t.Fatalf("chunks carried %d records of %d", next, tb.NumRows)
	}
}
