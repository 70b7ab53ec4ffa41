package wire

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/table"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// allTypes is a table with every field type, nulls on the nullable ones.
func allTypes() *table.Table {
	return &table.Table{NumRows: 3, Columns: []*table.Column{
		{Field: table.Field{Name: "id", Type: table.TypeInt64}, Int64s: []int64{9007199254740993, -1, 0}},
		{Field: table.Field{Name: "s", Type: table.TypeString, Nullable: true}, Strings: []string{"한국어", "", "x"}, Nulls: []int{1}},
		{Field: table.Field{Name: "d", Type: table.TypeDouble, Nullable: true}, Doubles: []float64{0.1, 0, 1e21}, Nulls: []int{1}},
		{Field: table.Field{Name: "b", Type: table.TypeBool}, Bools: []bool{true, false, true}},
		{Field: table.Field{Name: "t", Type: table.TypeTimestamp, Nullable: true}, Int64s: []int64{1765531800000000, 0, 1}, Nulls: []int{1}},
		{Field: table.Field{Name: "by", Type: table.TypeBytes}, Bytes: [][]byte{{0, 1}, nil, {255}}},
		{Field: table.Field{Name: "v", Type: table.TypeFloatVector, VectorDim: 2, Nullable: true}, Vectors: []float32{0.1, 1, 0, 0, -2.5, 3}, Nulls: []int{1}},
		{Field: table.Field{Name: "l", Type: table.TypeStringList}, StringLists: [][]string{{"a", "b"}, {}, {"c"}}},
		{Field: table.Field{Name: "j", Type: table.TypeJSON, Nullable: true}, Strings: []string{`{"a":[1,2]}`, ``, `3`}, Nulls: []int{1}},
	}}
}

func TestChunkFromProtoRoundTrip(t *testing.T) {
	tb := allTypes()
	if err := tb.Validate(); err != nil {
		t.Fatal(err)
	}
	schema := tb.Schema()
	// Through the wire bytes, as a server sees it.
	raw, err := proto.Marshal(ChunkToProto(tb, 1, 3, 7))
	if err != nil {
		t.Fatal(err)
	}
	var ch pb.DataChunk
	if err := proto.Unmarshal(raw, &ch); err != nil {
		t.Fatal(err)
	}
	got, err := ChunkFromProto(schema, &ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	var gb, wb bytes.Buffer
	if err := canonical.WriteTable(&gb, got); err != nil {
		t.Fatal(err)
	}
	if err := canonical.WriteTable(&wb, tb.Slice(1, 3)); err != nil {
		t.Fatal(err)
	}
	if gb.String() != wb.String() {
		t.Fatalf("got\n%s\nwant\n%s", gb.String(), wb.String())
	}
}

func TestChunkFromProtoRejects(t *testing.T) {
	tb := allTypes()
	schema := tb.Schema()
	col := func(ch *pb.DataChunk, name string) *pb.Column {
		for i, f := range schema {
			if f.Name == name {
				return ch.Columns[i]
			}
		}
		t.Fatalf("no column %q", name)
		return nil
	}
	tests := []struct {
		name   string
		mutate func(ch *pb.DataChunk)
		want   string // in the error text
	}{
		{"column count", func(ch *pb.DataChunk) { ch.Columns = ch.Columns[:3] }, "chunk 4 has 3 columns, the schema has 9"},
		{"wrong case", func(ch *pb.DataChunk) {
			col(ch, "id").Values = &pb.Column_Doubles{Doubles: &pb.Doubles{Values: []float64{1, 2, 3}}}
		}, `column 0 "id": a INT64 field carries doubles, want int64s`},
		{"no values", func(ch *pb.DataChunk) { col(ch, "b").Values = nil }, "carries no values"},
		{"short column", func(ch *pb.DataChunk) { c := col(ch, "s").GetStrings(); c.Values = c.Values[:2] }, `column 1 "s": holds 2 values, want record_count 3`},
		{"long column", func(ch *pb.DataChunk) { c := col(ch, "by").GetBytesList(); c.Values = append(c.Values, nil) }, "holds 4 values"},
		{"vector floats", func(ch *pb.DataChunk) { c := col(ch, "v").GetVectors(); c.Values = c.Values[:5] }, "holds 5 floats"},
		{"vector dim", func(ch *pb.DataChunk) { col(ch, "v").GetVectors().Dim = 3 }, "vectors have dim 3"},
		{"null on non-nullable", func(ch *pb.DataChunk) { col(ch, "id").NullIndices = []uint32{0} }, "not nullable"},
		{"null out of range", func(ch *pb.DataChunk) { col(ch, "s").NullIndices = []uint32{3} }, "not below record_count 3"},
		{"null not ascending", func(ch *pb.DataChunk) { col(ch, "s").NullIndices = []uint32{1, 1} }, "not above the previous one"},
		{"NaN double", func(ch *pb.DataChunk) { col(ch, "d").GetDoubles().Values[2] = math.NaN() }, `column 2 "d": row 2: NaN`},
		{"Inf double", func(ch *pb.DataChunk) { col(ch, "d").GetDoubles().Values[0] = math.Inf(-1) }, "row 0: -Inf"},
		{"Inf vector", func(ch *pb.DataChunk) { col(ch, "v").GetVectors().Values[5] = float32(math.Inf(1)) }, "row 2 element 1: +Inf"},
		{"bad UTF-8", func(ch *pb.DataChunk) { col(ch, "s").GetStrings().Values[2] = "a\xffb" }, "row 2: invalid UTF-8"},
		{"bad UTF-8 in list", func(ch *pb.DataChunk) { col(ch, "l").GetStringLists().Values[0].Values[1] = "\xc3" }, "row 0 element 1: invalid UTF-8"},
		{"bad JSON", func(ch *pb.DataChunk) { col(ch, "j").GetStrings().Values[0] = `{"a":` }, "row 0: not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := proto.Clone(ChunkToProto(tb, 0, 3, 4)).(*pb.DataChunk)
			tt.mutate(ch)
			_, err := ChunkFromProto(schema, ch)
			if !errors.Is(err, ErrInvalidChunk) {
				t.Fatalf("err = %v, want ErrInvalidChunk", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "chunk 4") {
				t.Fatalf("err = %q, want it to contain %q and the chunk number", err, tt.want)
			}
		})
	}
}

func TestChunkFromProtoSkipsNullSlots(t *testing.T) {
	tb := allTypes()
	ch := proto.Clone(ChunkToProto(tb, 0, 3, 0)).(*pb.DataChunk)
	ch.Columns[2].GetDoubles().Values[1] = math.NaN() // row 1 of "d" is null
	ch.Columns[6].GetVectors().Values[2] = float32(math.NaN())
	if _, err := ChunkFromProto(tb.Schema(), ch); err != nil {
		t.Fatalf("NaN in a null slot: %v", err)
	}
}

func TestValidateMetadata(t *testing.T) {
	good := func() *pb.IngestMetadata {
		return &pb.IngestMetadata{
			IngestId: "job-1", Domain: "recruit", FileName: "a.pkl", TotalRecords: 3, Attempt: 1,
			Schema: SchemaToProto(allTypes().Schema()), SourceSha256: strings.Repeat("ab", 32),
		}
	}
	if err := ValidateMetadata(good()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(md *pb.IngestMetadata)
		isID   bool
	}{
		{"empty ingest_id", func(md *pb.IngestMetadata) { md.IngestId = "" }, true},
		{"bad ingest_id", func(md *pb.IngestMetadata) { md.IngestId = "../etc" }, true},
		{"bad domain", func(md *pb.IngestMetadata) { md.Domain = "a/b" }, true},
		{"attempt 0", func(md *pb.IngestMetadata) { md.Attempt = 0 }, false},
		{"upper-case sha", func(md *pb.IngestMetadata) { md.SourceSha256 = strings.Repeat("AB", 32) }, false},
		{"short sha", func(md *pb.IngestMetadata) { md.SourceSha256 = "abc" }, false},
		{"no type", func(md *pb.IngestMetadata) { md.Schema[0].Type = pb.FieldType_FIELD_TYPE_UNSPECIFIED }, false},
		{"duplicate name", func(md *pb.IngestMetadata) { md.Schema[1].Name = md.Schema[0].Name }, false},
		{"vector without dim", func(md *pb.IngestMetadata) { md.Schema[6].VectorDim = 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := good()
			tt.mutate(md)
			err := ValidateMetadata(md)
			if !errors.Is(err, ErrInvalidMetadata) {
				t.Fatalf("err = %v, want ErrInvalidMetadata", err)
			}
			if tt.isID && !errors.Is(err, ErrInvalidID) {
				t.Fatalf("err = %v, want ErrInvalidID too", err)
			}
		})
	}
}

// TestChunkFromWireReliesOnUnmarshalUTF8 pins the premise of ChunkFromWire:
// proto.Unmarshal refuses invalid UTF-8 in a string field, both plain and in
// a string list, so a chunk from the wire never carries any.
func TestChunkFromWireReliesOnUnmarshalUTF8(t *testing.T) {
	bad := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "a\xffb")
	if err := proto.Unmarshal(bad, &pb.Strings{}); err == nil {
		t.Fatal("proto.Unmarshal accepted invalid UTF-8 in Strings")
	}
	lists := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), bad)
	if err := proto.Unmarshal(lists, &pb.StringLists{}); err == nil {
		t.Fatal("proto.Unmarshal accepted invalid UTF-8 in StringLists")
	}

	tb := allTypes()
	ch := proto.Clone(ChunkToProto(tb, 0, 3, 0)).(*pb.DataChunk)
	if _, err := ChunkFromWire(tb.Schema(), ch); err != nil {
		t.Fatal(err)
	}
	ch.Columns[8].GetStrings().Values[2] = `[1,` // JSON is still checked
	if _, err := ChunkFromWire(tb.Schema(), ch); !errors.Is(err, ErrInvalidChunk) {
		t.Fatalf("bad JSON: err = %v", err)
	}
	ch = proto.Clone(ChunkToProto(tb, 0, 3, 0)).(*pb.DataChunk)
	ch.Columns[1].GetStrings().Values[0] = "a\xffb" // only possible in memory
	if _, err := ChunkFromWire(tb.Schema(), ch); err != nil {
		t.Fatalf("ChunkFromWire checked UTF-8: %v", err)
	}
}
