package wire

import (
	"errors"
	"fmt"

	"github.com/embedstream/embedstream/internal/table"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// MaxIDLen is the longest ingest_id or domain the contract allows.
const MaxIDLen = 200

// ErrInvalidID is returned (wrapped) by [ValidateID] for an identifier that
// breaks the contract's rule.
var ErrInvalidID = errors.New("invalid identifier")

// ValidateID checks the contract's rule for ingest_id and domain: 1 to 200
// characters of [A-Za-z0-9._:-], starting with a letter or digit. what names
// the value in the error ("ingest_id", "domain", "Idempotency-Key", ...).
func ValidateID(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalidID, what)
	}
	if len(s) > MaxIDLen {
		return fmt.Errorf("%w: %s is %d characters long (at most %d)", ErrInvalidID, what, len(s), MaxIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return fmt.Errorf("%w: %s %q must start with a letter or digit", ErrInvalidID, what, s)
		}
		if !alnum && c != '.' && c != '_' && c != ':' && c != '-' {
			return fmt.Errorf("%w: %s %q has character %q at %d (allowed: A-Z a-z 0-9 . _ : -)", ErrInvalidID, what, s, c, i)
		}
	}
	return nil
}

// ValidSHA256 reports whether s is 64 lowercase hexadecimal digits.
func ValidSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// SchemaToProto converts a table schema to the contract's fields.
func SchemaToProto(fields []table.Field) []*pb.Field {
	out := make([]*pb.Field, len(fields))
	for i, f := range fields {
		out[i] = &pb.Field{Name: f.Name, Type: pb.FieldType(f.Type), Nullable: f.Nullable, VectorDim: uint32(f.VectorDim)}
	}
	return out
}

// SchemaFromProto converts the contract's fields to a table schema, checking
// names, types and vector dimensions.
func SchemaFromProto(fields []*pb.Field) ([]table.Field, error) {
	out := make([]table.Field, len(fields))
	seen := make(map[string]bool, len(fields))
	for i, f := range fields {
		if f.GetName() == "" {
			return nil, fmt.Errorf("schema field %d has an empty name", i)
		}
		if seen[f.GetName()] {
			return nil, fmt.Errorf("schema field %d: duplicate name %q", i, f.GetName())
		}
		seen[f.GetName()] = true
		t := table.Type(f.GetType())
		if t <= table.TypeUnspecified || t > table.TypeJSON {
			return nil, fmt.Errorf("schema field %q: invalid type %s", f.GetName(), f.GetType())
		}
		if t == table.TypeFloatVector && f.GetVectorDim() == 0 {
			return nil, fmt.Errorf("schema field %q: FLOAT_VECTOR needs vector_dim > 0", f.GetName())
		}
		if t != table.TypeFloatVector && f.GetVectorDim() != 0 {
			return nil, fmt.Errorf("schema field %q: vector_dim is set on a %s field", f.GetName(), t)
		}
		out[i] = table.Field{Name: f.GetName(), Type: t, Nullable: f.GetNullable(), VectorDim: int(f.GetVectorDim())}
	}
	return out, nil
}

// ChunkToProto builds the DataChunk carrying rows [lo, hi) of t as chunk
// number seq. Value slices are shared with t, not copied: vectors go onto the
// wire straight from the table's memory.
func ChunkToProto(t *table.Table, lo, hi int, seq uint64) *pb.DataChunk {
	ch := &pb.DataChunk{
		Sequence:    seq,
		FirstRecord: uint64(lo),
		RecordCount: uint32(hi - lo),
		Columns:     make([]*pb.Column, len(t.Columns)),
	}
	for i, c := range t.Columns {
		ch.Columns[i] = ColumnToProto(c, lo, hi)
	}
	return ch
}

// ColumnToProto builds the Column message for rows [lo, hi) of c, sharing
// c's value slices (RawVectors, which the message cannot hold, are decoded
// into a new []float32).
func ColumnToProto(c *table.Column, lo, hi int) *pb.Column {
	col := &pb.Column{}
	switch c.Type {
	case table.TypeString, table.TypeJSON:
		col.Values = &pb.Column_Strings{Strings: &pb.Strings{Values: c.Strings[lo:hi]}}
	case table.TypeInt64, table.TypeTimestamp:
		col.Values = &pb.Column_Int64S{Int64S: &pb.Int64S{Values: c.Int64s[lo:hi]}}
	case table.TypeDouble:
		col.Values = &pb.Column_Doubles{Doubles: &pb.Doubles{Values: c.Doubles[lo:hi]}}
	case table.TypeBool:
		col.Values = &pb.Column_Bools{Bools: &pb.Bools{Values: c.Bools[lo:hi]}}
	case table.TypeBytes:
		col.Values = &pb.Column_BytesList{BytesList: &pb.BytesList{Values: c.Bytes[lo:hi]}}
	case table.TypeFloatVector:
		var vs []float32
		if c.RawVectors != nil {
			vs = make([]float32, 0, (hi-lo)*c.VectorDim)
			for r := lo; r < hi; r++ {
				vs = c.AppendVector(vs, r)
			}
		} else {
			vs = c.Vectors[lo*c.VectorDim : hi*c.VectorDim]
		}
		col.Values = &pb.Column_Vectors{Vectors: &pb.FloatVectors{Dim: uint32(c.VectorDim), Values: vs}}
	case table.TypeStringList:
		lists := make([]*pb.Strings, hi-lo)
		for i, l := range c.StringLists[lo:hi] {
			lists[i] = &pb.Strings{Values: l}
		}
		col.Values = &pb.Column_StringLists{StringLists: &pb.StringLists{Values: lists}}
	}
	if ns := c.NullsIn(lo, hi); len(ns) > 0 {
		col.NullIndices = make([]uint32, len(ns))
		for i, n := range ns {
			col.NullIndices[i] = uint32(n - lo)
		}
	}
	return col
}
