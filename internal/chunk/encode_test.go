package chunk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/table"
	"github.com/embedstream/embedstream/internal/wire"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// randomTable has a column of every type, with nulls, empty values,
// negative and extreme numbers, and multi-byte text.
func randomTable(rng *rand.Rand, rows int) *table.Table {
	cols := []*table.Column{
		{Field: table.Field{Name: "s", Type: table.TypeString, Nullable: true}},
		{Field: table.Field{Name: "j", Type: table.TypeJSON}},
		{Field: table.Field{Name: "i", Type: table.TypeInt64, Nullable: true}},
		{Field: table.Field{Name: "ts", Type: table.TypeTimestamp}},
		{Field: table.Field{Name: "d", Type: table.TypeDouble, Nullable: true}},
		{Field: table.Field{Name: "b", Type: table.TypeBool}},
		{Field: table.Field{Name: "raw", Type: table.TypeBytes}},
		{Field: table.Field{Name: "v", Type: table.TypeFloatVector, VectorDim: 3, Nullable: true}},
		{Field: table.Field{Name: "l", Type: table.TypeStringList}},
		{Field: table.Field{Name: "rv", Type: table.TypeFloatVector, VectorDim: 2, Nullable: true}, RawVectors: [][]byte{}},
	}
	words := []string{"", "go", "백엔드", "naïve", "🚀 rocket", "a longer piece of text"}
	ints := []int64{0, 1, -1, 127, 128, math.MaxInt64, math.MinInt64, 1 << 35}
	for r := range rows {
		null := rng.IntN(4) == 0
		for _, c := range cols {
			if null && c.Nullable {
				c.Nulls = append(c.Nulls, r)
			}
		}
		cols[0].Strings = append(cols[0].Strings, words[rng.IntN(len(words))])
		cols[1].Strings = append(cols[1].Strings, fmt.Sprintf(`{"k":%d}`, r))
		cols[2].Int64s = append(cols[2].Int64s, ints[rng.IntN(len(ints))])
		cols[3].Int64s = append(cols[3].Int64s, rng.Int64())
		cols[4].Doubles = append(cols[4].Doubles, rng.NormFloat64()*1e6)
		cols[5].Bools = append(cols[5].Bools, rng.IntN(2) == 0)
		cols[6].Bytes = append(cols[6].Bytes, bytes.Repeat([]byte{byte(r)}, rng.IntN(4)))
		cols[7].Vectors = append(cols[7].Vectors, rng.Float32(), -rng.Float32(), 0)
		l := make([]string, rng.IntN(4))
		for i := range l {
			l[i] = words[rng.IntN(len(words))]
		}
		cols[8].StringLists = append(cols[8].StringLists, l)
		var raw []byte // RawVectors layout: little-endian bytes, nil when null
		if !null {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(rng.Float32()))
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(-1.5))
		}
		cols[9].RawVectors = append(cols[9].RawVectors, raw)
	}
	return &table.Table{Columns: cols, NumRows: rows}
}

func TestAppendChunkMatchesProtoMarshal(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	tb := randomTable(rng, 300)
	if err := tb.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][3]int64{{0, 300, 0}, {0, 1, 0}, {17, 18, 5}, {5, 5, 9}, {100, 250, 1 << 40}, {299, 300, 2}} {
		lo, hi, seq := int(r[0]), int(r[1]), uint64(r[2])
		want, err := proto.Marshal(&pb.IngestDataRequest{Payload: &pb.IngestDataRequest_Chunk{Chunk: wire.ChunkToProto(tb, lo, hi, seq)}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendChunk(nil, tb, lo, hi, seq, uint64(lo))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("rows [%d,%d) seq %d: encoding differs from proto.Marshal (%d vs %d bytes)", lo, hi, seq, len(got), len(want))
		}
		if n := chunkSize(tb, lo, hi, seq, uint64(lo)); n != len(want) {
			t.Errorf("rows [%d,%d): chunkSize %d, encoded %d", lo, hi, n, len(want))
		}
		// The same rows out of a window of the table (nulls rebased, first
		// record given apart) encode to the same bytes.
		wlo, whi := lo-lo%7, min(tb.NumRows, hi+3)
		w := tb.Slice(wlo, whi)
		got, err = appendChunk(nil, w, lo-wlo, hi-wlo, seq, uint64(lo))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("rows [%d,%d) seq %d out of window [%d,%d): encoding differs from the whole table's", lo, hi, seq, wlo, whi)
		}
		if n := chunkSize(w, lo-wlo, hi-wlo, seq, uint64(lo)); n != len(want) {
			t.Errorf("rows [%d,%d) out of window [%d,%d): chunkSize %d, encoded %d", lo, hi, wlo, whi, n, len(want))
		}
	}
}

func TestAppendChunkRefusesInvalidUTF8(t *testing.T) {
	t.Parallel()
	tb := randomTable(rand.New(rand.NewPCG(3, 4)), 10)
	tb.Columns[8].StringLists[6] = []string{"ok", "bad \xff"}
	_, err := appendChunk(nil, tb, 0, 10, 0, 0)
	if !errors.Is(err, sink.ErrRejected) {
		t.Fatalf("got %v, want ErrRejected", err)
	}
	// Out of a window, the error names the dataset's row.
	_, err = appendChunk(nil, tb.Slice(4, 10), 0, 6, 0, 4)
	if !errors.Is(err, sink.ErrRejected) || !strings.Contains(err.Error(), `column "l" row 6:`) {
		t.Fatalf("window [4,10): got %v, want ErrRejected naming row 6", err)
	}
}

// BenchmarkEncodeChunk compares the direct encoder with building the
// message tree and proto.Marshal, on ~1 MiB chunks of vector-heavy and
// text-heavy rows.
func BenchmarkEncodeChunk(b *testing.B) {
	vec := &table.Table{NumRows: 640, Columns: []*table.Column{
		{Field: table.Field{Name: "id", Type: table.TypeInt64}, Int64s: make([]int64, 640)},
		{Field: table.Field{Name: "e", Type: table.TypeFloatVector, VectorDim: 384}, Vectors: make([]float32, 640*384)},
	}}
	text := randomTable(rand.New(rand.NewPCG(5, 6)), 12000)
	for _, bc := range []struct {
		name string
		t    *table.Table
	}{{"vectors", vec}, {"mixed", text}} {
		size := chunkSize(bc.t, 0, bc.t.NumRows, 0, 0)
		buf := make([]byte, 0, size)
		b.Run(bc.name+"/direct", func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := appendChunk(buf[:0], bc.t, 0, bc.t.NumRows, 0, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/proto", func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				req := &pb.IngestDataRequest{Payload: &pb.IngestDataRequest_Chunk{Chunk: wire.ChunkToProto(bc.t, 0, bc.t.NumRows, 0)}}
				_ = proto.Size(req)
				if _, err := (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(buf[:0], req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
