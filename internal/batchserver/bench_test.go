package batchserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/embedstream/embedstream/internal/canonical"
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
// loopback gRPC, with and without writing JSONL, as contract v1 (no
// intermediate fsync), v2 with the default grouped fsyncs, and v2 with an
// fsync after every chunk. Each iteration is one stream under a new
// ingest_id.
func BenchmarkIngest(b *testing.B) {
	const rows, dim = 20_000, 384
	per := (1 << 20) / (dim*4 + 8)
	tb := vectorTable(rows, dim)
	msgs := messages("bench", tb, per)
	var size int64
	for _, m := range msgs {
		size += int64(proto.Size(m))
	}
	modes := []struct {
		name string
		cfg  Config
	}{
		{"v1", Config{Contract: ContractV1}},
		{"v2", Config{}},
		{"v2-sync-every-chunk", Config{StagingSyncBytes: 1}},
	}
	for _, discard := range []bool{true, false} {
		for _, mode := range modes {
			b.Run(fmt.Sprintf("discard=%v/%s", discard, mode.name), func(b *testing.B) {
				cfg := mode.cfg
				cfg.Discard = discard
				srv := benchServer(b, cfg)
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
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(msgs)-1)/1e6, "ms/chunk")
			})
		}
	}
}

// BenchmarkStageChunk measures what staging costs for one 1 MiB chunk of
// 384-dim vectors (about 2.6 MiB of JSONL): "write" converts and writes it
// (buffered, no fsync: contract v1), "write+sync" also fsyncs the JSONL and
// appends and fsyncs a manifest boundary, as a boundary after every chunk
// does, and reports that part's time (sync-ms/chunk). Grouped fsyncs
// (Config.StagingSyncBytes) pay it about once per group.
func BenchmarkStageChunk(b *testing.B) {
	const dim = 384
	tb := vectorTable((1<<20)/(dim*4+8), dim)
	var cw countWriter
	if err := canonical.WriteTable(&cw, tb); err != nil {
		b.Fatal(err)
	}
	jsonl := float64(cw) / (1 << 20)
	for _, sync := range []bool{false, true} {
		name := "write"
		if sync {
			name = "write+sync"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			s := &Server{cfg: Config{StagingMaxBytes: 1 << 62}}
			stg := &staging{id: "bench"}
			data, err := os.Create(filepath.Join(dir, "bench.jsonl"))
			if err != nil {
				b.Fatal(err)
			}
			defer data.Close()
			m, err := os.Create(filepath.Join(dir, "bench.manifest"))
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			bw := bufio.NewWriterSize(&budgetWriter{s: s, stg: stg, f: data, limit: 1 << 62}, writeBufferSize)
			var (
				chunks   uint64
				syncTime time.Duration
			)
			for b.Loop() {
				if err := canonical.WriteTable(bw, tb); err != nil {
					b.Fatal(err)
				}
				chunks++
				if sync {
					if err := bw.Flush(); err != nil {
						b.Fatal(err)
					}
					start := time.Now()
					if err := data.Sync(); err != nil {
						b.Fatal(err)
					}
					bd := boundary{Chunks: chunks, Records: chunks * uint64(tb.NumRows), Bytes: stg.dataBytes, Attempt: 1, At: time.Now()}
					if _, err := appendBoundary(m, stg, bd); err != nil {
						b.Fatal(err)
					}
					syncTime += time.Since(start)
				}
				if stg.dataBytes > 256<<20 { // keep the file small: start over
					if err := bw.Flush(); err != nil {
						b.Fatal(err)
					}
					if err := data.Truncate(0); err != nil {
						b.Fatal(err)
					}
					if _, err := data.Seek(0, io.SeekStart); err != nil {
						b.Fatal(err)
					}
					stg.dataBytes = 0
				}
			}
			b.ReportMetric(jsonl, "JSONL-MiB/chunk")
			if sync {
				// Both fsyncs and the manifest append: what staging adds.
				b.ReportMetric(float64(syncTime.Microseconds())/float64(chunks)/1000, "sync-ms/chunk")
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

// countWriter counts the bytes written to it.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}
