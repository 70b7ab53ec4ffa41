package batchserver_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/embedstream/embedstream/internal/batchserver"
	"github.com/embedstream/embedstream/internal/table"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// Example starts the reference batch server in-process, streams a two-row
// dataset to it, repeats the stream (a redelivery), and reads the committed
// file.
func Example() {
	dir, err := os.MkdirTemp("", "batchserver-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	srv, err := batchserver.New(batchserver.Config{OutDir: dir}, zerolog.Nop())
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	defer func() { stop(); <-served }()

	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer cc.Close()
	client := pb.NewEmbeddingStreamServiceClient(cc)

	t := &table.Table{NumRows: 2, Columns: []*table.Column{
		{Field: table.Field{Name: "title", Type: table.TypeString}, Strings: []string{"backend engineer", "데이터 엔지니어"}},
		{Field: table.Field{Name: "embedding", Type: table.TypeFloatVector, VectorDim: 2, Nullable: true}, Vectors: []float32{0.5, -1, 0, 0}, Nulls: []int{1}},
	}}
	ingest := func(attempt uint32) *pb.IngestDataResponse {
		st, err := client.IngestDataStream(ctx)
		if err != nil {
			panic(err)
		}
		md := &pb.IngestMetadata{
			IngestId: "job-42", Domain: "recruit", FileName: "recruit.pkl", TotalRecords: 2, Attempt: attempt,
			Schema: wire.SchemaToProto(t.Schema()), SourceSha256: strings.Repeat("ab", 32),
		}
		msgs := []*pb.IngestDataRequest{
			{Payload: &pb.IngestDataRequest_Metadata{Metadata: md}},
			{Payload: &pb.IngestDataRequest_Chunk{Chunk: wire.ChunkToProto(t, 0, 2, 0)}},
		}
		for _, m := range msgs {
			if err := st.Send(m); err != nil {
				break // io.EOF: the answer comes from CloseAndRecv
			}
		}
		resp, err := st.CloseAndRecv()
		if err != nil {
			panic(err)
		}
		return resp
	}

	r1 := ingest(1)
	fmt.Println("first:", r1.GetRecordsReceived(), "records, duplicate", r1.GetDuplicate())
	r2 := ingest(2)
	fmt.Println("redelivery: duplicate", r2.GetDuplicate())
	out, err := os.ReadFile(filepath.Join(dir, "recruit", "job-42.jsonl"))
	if err != nil {
		panic(err)
	}
	fmt.Print(string(out))
	// Output:
	// first: 2 records, duplicate false
	// redelivery: duplicate true
	// {"title":"backend engineer","embedding":[0.5,-1]}
	// {"title":"데이터 엔지니어","embedding":null}
}
