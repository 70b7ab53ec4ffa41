package batchserver

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/embedstream/embedstream/internal/table"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// vectorTable returns n rows of an id and a dim-float embedding.
func vectorTable(n, dim int) *table.Table {
	ids := make([]int64, n)
	vec := make([]float32, n*dim)
	for i := range ids {
		ids[i] = int64(i)
	}
	for i := range vec {
		vec[i] = float32(i%1000) / 7
	}
	return &table.Table{NumRows: n, Columns: []*table.Column{
		{Field: table.Field{Name: "id", Type: table.TypeInt64}, Int64s: ids},
		{Field: table.Field{Name: "embedding", Type: table.TypeFloatVector, VectorDim: dim}, Vectors: vec},
	}}
}

// BenchmarkIngest streams a 384-dim vector dataset in ~1 MiB chunks over
// loopback gRPC, with and without writing JSONL. Each iteration is one
// stream under a new ingest_id.
func BenchmarkIngest(b *testing.B) {
	const rows, dim = 20_000, 384
	per := (1 << 20) / (dim*4 + 8)
	tb := vectorTable(rows, dim)
	msgs := messages("bench", tb, per)
	var size int64
	for _, m := range msgs {
		size += int64(proto.Size(m))
	}
	for _, discard := range []bool{true, false} {
		b.Run(fmt.Sprintf("discard=%v", discard), func(b *testing.B) {
			srv := benchServer(b, Config{Discard: discard})
			b.SetBytes(size)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				msgs[0].GetMetadata().IngestId = fmt.Sprintf("bench-%d", i)
				if _, err := send(context.Background(), srv, msgs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChunkFromProto measures the server's decode and validation of a
// ~1 MiB chunk of strings (UTF-8 checks) and of vectors (NaN checks).
func BenchmarkChunkFromProto(b *testing.B) {
	strs := make([]string, 2000)
	for i := range strs {
		strs[i] = fmt.Sprintf("백엔드 개발자 채용 공고 %d: Go, gRPC, NATS JetStream 경험자 우대 — 서울 강남구 %d", i, i*7)
	}
	text := &table.Table{NumRows: len(strs), Columns: []*table.Column{
		{Field: table.Field{Name: "desc", Type: table.TypeString}, Strings: strs},
	}}
	for name, tb := range map[string]*table.Table{"vectors": vectorTable(680, 384), "strings": text} {
		b.Run(name, func(b *testing.B) {
			ch := wire.ChunkToProto(tb, 0, tb.NumRows, 0)
			b.SetBytes(int64(proto.Size(ch)))
			b.ReportAllocs()
			schema := tb.Schema()
			for b.Loop() {
				if _, err := wire.ChunkFromProto(schema, ch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchServer starts a server for a benchmark and returns a client.
func benchServer(b *testing.B, cfg Config) pb.EmbeddingStreamServiceClient {
	b.Helper()
	cfg.OutDir = b.TempDir()
	bb := &bundle{cfg: cfg} // no hooks: nothing waits on events
	bb.start(b)
	return bb.client
}
