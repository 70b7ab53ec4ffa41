package wire

import (
	"errors"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/table"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

func TestValidateID(t *testing.T) {
	for _, ok := range []string{"a", "0", "job-1", "A.b_c:d-e", strings.Repeat("x", 200)} {
		if err := ValidateID("ingest_id", ok); err != nil {
			t.Errorf("ValidateID(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", ".a", "a b", "a/b", "한", strings.Repeat("x", 201), "a\x00"} {
		if err := ValidateID("ingest_id", bad); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ValidateID(%q) = %v, want ErrInvalidID", bad, err)
		}
	}
}

func TestValidSHA256(t *testing.T) {
	if !ValidSHA256(strings.Repeat("0a", 32)) || ValidSHA256(strings.Repeat("0A", 32)) || ValidSHA256("abc") {
		t.Fatal("ValidSHA256 wrong")
	}
}

func TestChunkToProtoSharesVectors(t *testing.T) {
	tb := &table.Table{NumRows: 3, Columns: []*table.Column{
		{Field: table.Field{Name: "s", Type: table.TypeString, Nullable: true}, Strings: []string{"a", "", "c"}, Nulls: []int{1}},
		{Field: table.Field{Name: "v", Type: table.TypeFloatVector, VectorDim: 2}, Vectors: []float32{1, 2, 3, 4, 5, 6}},
		{Field: table.Field{Name: "l", Type: table.TypeStringList}, StringLists: [][]string{{"x"}, nil, {"y", "z"}}},
	}}
	ch := ChunkToProto(tb, 1, 3, 7)
	if ch.GetSequence() != 7 || ch.GetFirstRecord() != 1 || ch.GetRecordCount() != 2 || len(ch.GetColumns()) != 3 {
		t.Fatalf("bad chunk header: %v", ch)
	}
	if ni := ch.GetColumns()[0].GetNullIndices(); len(ni) != 1 || ni[0] != 0 {
		t.Fatalf("null indices = %v", ni)
	}
	vec := ch.GetColumns()[1].GetVectors()
	if vec.GetDim() != 2 || len(vec.GetValues()) != 4 || &vec.GetValues()[0] != &tb.Columns[1].Vectors[2] {
		t.Fatal("vectors copied or wrong")
	}
	if l := ch.GetColumns()[2].GetStringLists().GetValues(); len(l) != 2 || l[1].GetValues()[1] != "z" {
		t.Fatalf("string lists = %v", l)
	}
}

func TestSchemaRoundTrip(t *testing.T) {
	in := []table.Field{{Name: "a", Type: table.TypeString, Nullable: true}, {Name: "e", Type: table.TypeFloatVector, VectorDim: 384}}
	out, err := SchemaFromProto(SchemaToProto(in))
	if err != nil || len(out) != 2 || out[1] != in[1] || out[0] != in[0] {
		t.Fatalf("round trip: %v %v", out, err)
	}
	bad := [][]*pb.Field{
		{{Name: "", Type: pb.FieldType_FIELD_TYPE_STRING}},
		{{Name: "a", Type: pb.FieldType_FIELD_TYPE_STRING}, {Name: "a", Type: pb.FieldType_FIELD_TYPE_INT64}},
		{{Name: "a", Type: pb.FieldType_FIELD_TYPE_UNSPECIFIED}},
		{{Name: "a", Type: pb.FieldType_FIELD_TYPE_FLOAT_VECTOR}},
		{{Name: "a", Type: pb.FieldType_FIELD_TYPE_STRING, VectorDim: 3}},
	}
	for i, f := range bad {
		if _, err := SchemaFromProto(f); err == nil {
			t.Errorf("bad schema %d accepted", i)
		}
	}
}
