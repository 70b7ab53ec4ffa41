package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/embedstream/embedstream/internal/table"
	pb "github.com/embedstream/embedstream/proto/embeddingstream/v1"
)

// ErrInvalidMetadata is returned (wrapped) by [ValidateMetadata] for metadata
// that breaks the contract's rules.
var ErrInvalidMetadata = errors.New("invalid metadata")

// ErrInvalidChunk is returned (wrapped) by [ChunkFromProto] for a chunk that
// breaks the contract's rules.
var ErrInvalidChunk = errors.New("invalid chunk")

// ValidateMetadata checks the value rules of a stream's metadata, as a server
// receives it: ingest_id and domain per [ValidateID], attempt >= 1,
// source_sha256 per [ValidSHA256] and the schema per [SchemaFromProto]. Every
// error wraps [ErrInvalidMetadata] (and [ErrInvalidID] for a bad identifier).
func ValidateMetadata(md *pb.IngestMetadata) error {
	if md == nil {
		return fmt.Errorf("%w: no metadata", ErrInvalidMetadata)
	}
	if err := ValidateID("ingest_id", md.GetIngestId()); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMetadata, err)
	}
	if err := ValidateID("domain", md.GetDomain()); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMetadata, err)
	}
	if md.GetAttempt() < 1 {
		return fmt.Errorf("%w: attempt is %d, must be at least 1", ErrInvalidMetadata, md.GetAttempt())
	}
	if !ValidSHA256(md.GetSourceSha256()) {
		return fmt.Errorf("%w: source_sha256 %.80q is not 64 lowercase hex digits", ErrInvalidMetadata, md.GetSourceSha256())
	}
	if _, err := SchemaFromProto(md.GetSchema()); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMetadata, err)
	}
	return nil
}

// ChunkFromProto checks chunk c against schema (as [SchemaFromProto] returns
// it) and the contract's value rules, and returns its records as a table. The
// table's value slices share c's memory (nothing is copied but the null
// indices and string lists), so c must not change while the table is used.
//
// It checks: one column per field, in order; each column's values case
// matching its field's type; exactly record_count values (vectors:
// record_count*dim floats, with dim equal to the field's vector_dim);
// null_indices only on nullable fields, strictly ascending and below
// record_count; no NaN or ±Inf in DOUBLE and FLOAT_VECTOR values; valid UTF-8
// in strings; valid JSON text in JSON columns. Value checks skip null slots.
// Every error wraps [ErrInvalidChunk] and names the chunk's sequence, and
// where it applies the column and the row within the chunk.
func ChunkFromProto(schema []table.Field, c *pb.DataChunk) (*table.Table, error) {
	return chunkFromProto(schema, c, true)
}

// ChunkFromWire is [ChunkFromProto] for a chunk that protobuf-go has
// unmarshalled from wire bytes (as gRPC's codec does): it makes every check
// but the UTF-8 one, which proto.Unmarshal has already made on every proto3
// string field (it refuses the message otherwise). On string-heavy chunks
// that check is most of the cost.
func ChunkFromWire(schema []table.Field, c *pb.DataChunk) (*table.Table, error) {
	return chunkFromProto(schema, c, false)
}

func chunkFromProto(schema []table.Field, c *pb.DataChunk, checkUTF8 bool) (*table.Table, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: no chunk", ErrInvalidChunk)
	}
	seq := c.GetSequence()
	if got, want := len(c.GetColumns()), len(schema); got != want {
		return nil, fmt.Errorf("%w: chunk %d has %d columns, the schema has %d", ErrInvalidChunk, seq, got, want)
	}
	n := int(c.GetRecordCount())
	t := &table.Table{NumRows: n, Columns: make([]*table.Column, len(schema))}
	for i, f := range schema {
		col, err := columnFromProto(f, c.GetColumns()[i], n, checkUTF8)
		if err != nil {
			return nil, fmt.Errorf("%w: chunk %d: column %d %q: %w", ErrInvalidChunk, seq, i, f.Name, err)
		}
		t.Columns[i] = col
	}
	return t, nil
}

// columnFromProto converts and checks one column of n records.
func columnFromProto(f table.Field, pc *pb.Column, n int, checkUTF8 bool) (*table.Column, error) {
	col := &table.Column{Field: f}
	nulls, err := nullsFromProto(f, pc.GetNullIndices(), n)
	if err != nil {
		return nil, err
	}
	col.Nulls = nulls
	isNull := nullCursor(nulls)

	got := -1 // values held, for the count check
	switch f.Type {
	case table.TypeString, table.TypeJSON:
		v, ok := pc.GetValues().(*pb.Column_Strings)
		if !ok {
			return nil, caseErr(f, pc)
		}
		col.Strings = v.Strings.GetValues()
		got = len(col.Strings)
		if got != n {
			break
		}
		if !checkUTF8 && f.Type != table.TypeJSON {
			break
		}
		for r, s := range col.Strings {
			if isNull(r) {
				continue
			}
			if checkUTF8 && !utf8.ValidString(s) {
				return nil, fmt.Errorf("row %d: invalid UTF-8", r)
			}
			if f.Type == table.TypeJSON && !json.Valid([]byte(s)) {
				return nil, fmt.Errorf("row %d: not valid JSON text: %.80q", r, s)
			}
		}
	case table.TypeInt64, table.TypeTimestamp:
		v, ok := pc.GetValues().(*pb.Column_Int64S)
		if !ok {
			return nil, caseErr(f, pc)
		}
		col.Int64s = v.Int64S.GetValues()
		got = len(col.Int64s)
	case table.TypeDouble:
		v, ok := pc.GetValues().(*pb.Column_Doubles)
		if !ok {
			return nil, caseErr(f, pc)
		}
		col.Doubles = v.Doubles.GetValues()
		got = len(col.Doubles)
		if got != n {
			break
		}
		for r, d := range col.Doubles {
			if math.Float64bits(d)&expBits64 == expBits64 && !isNull(r) { // NaN or ±Inf
				return nil, fmt.Errorf("row %d: %v is not allowed (a missing value is a null)", r, d)
			}
		}
	case table.TypeBool:
		v, ok := pc.GetValues().(*pb.Column_Bools)
		if !ok {
			return nil, caseErr(f, pc)
		}
		col.Bools = v.Bools.GetValues()
		got = len(col.Bools)
	case table.TypeBytes:
		v, ok := pc.GetValues().(*pb.Column_BytesList)
		if !ok {
			return nil, caseErr(f, pc)
		}
		col.Bytes = v.BytesList.GetValues()
		got = len(col.Bytes)
	case table.TypeFloatVector:
		v, ok := pc.GetValues().(*pb.Column_Vectors)
		if !ok {
			return nil, caseErr(f, pc)
		}
		if dim := int(v.Vectors.GetDim()); dim != f.VectorDim {
			return nil, fmt.Errorf("vectors have dim %d, the field's vector_dim is %d", dim, f.VectorDim)
		}
		col.Vectors = v.Vectors.GetValues()
		if len(col.Vectors) != n*f.VectorDim {
			return nil, fmt.Errorf("holds %d floats, want record_count %d x dim %d = %d", len(col.Vectors), n, f.VectorDim, n*f.VectorDim)
		}
		got = n
		for k, x := range col.Vectors {
			if math.Float32bits(x)&expBits32 == expBits32 { // NaN or ±Inf
				if r := k / f.VectorDim; !isNull(r) {
					return nil, fmt.Errorf("row %d element %d: %v is not allowed", r, k%f.VectorDim, x)
				}
			}
		}
	case table.TypeStringList:
		v, ok := pc.GetValues().(*pb.Column_StringLists)
		if !ok {
			return nil, caseErr(f, pc)
		}
		lists := v.StringLists.GetValues()
		got = len(lists)
		if got != n {
			break
		}
		col.StringLists = make([][]string, n)
		for r, l := range lists {
			col.StringLists[r] = l.GetValues()
			if !checkUTF8 || isNull(r) {
				continue
			}
			for k, s := range col.StringLists[r] {
				if !utf8.ValidString(s) {
					return nil, fmt.Errorf("row %d element %d: invalid UTF-8", r, k)
				}
			}
		}
	default:
		return nil, fmt.Errorf("unsupported field type %s", f.Type)
	}
	if got != n {
		return nil, fmt.Errorf("holds %d values, want record_count %d", got, n)
	}
	return col, nil
}

// A float is NaN or ±Inf exactly when all its exponent bits are set.
const (
	expBits64 = 0x7ff0000000000000
	expBits32 = 0x7f800000
)

// nullsFromProto checks null_indices and returns them as ints.
func nullsFromProto(f table.Field, idx []uint32, n int) ([]int, error) {
	if len(idx) == 0 {
		return nil, nil
	}
	if !f.Nullable {
		return nil, fmt.Errorf("has null_indices but the field is not nullable")
	}
	out := make([]int, len(idx))
	prev := -1
	for i, x := range idx {
		r := int(x)
		if r >= n {
			return nil, fmt.Errorf("null index %d (at %d) is not below record_count %d", r, i, n)
		}
		if r <= prev {
			return nil, fmt.Errorf("null index %d (at %d) is not above the previous one, %d", r, i, prev)
		}
		out[i] = r
		prev = r
	}
	return out, nil
}

// nullCursor returns an isNull function for rows asked in ascending order
// (each at most once), O(1) per call.
func nullCursor(nulls []int) func(r int) bool {
	k := 0
	return func(r int) bool {
		for k < len(nulls) && nulls[k] < r {
			k++
		}
		return k < len(nulls) && nulls[k] == r
	}
}

// caseErr reports a column whose values case does not match its field.
func caseErr(f table.Field, pc *pb.Column) error {
	return fmt.Errorf("a %s field carries %s, want %s", f.Type, valuesCase(pc), wantCase(f.Type))
}

func valuesCase(pc *pb.Column) string {
	switch pc.GetValues().(type) {
	case *pb.Column_Strings:
		return "strings"
	case *pb.Column_Int64S:
		return "int64s"
	case *pb.Column_Doubles:
		return "doubles"
	case *pb.Column_Bools:
		return "bools"
	case *pb.Column_BytesList:
		return "bytes_list"
	case *pb.Column_Vectors:
		return "vectors"
	case *pb.Column_StringLists:
		return "string_lists"
	}
	return "no values"
}

func wantCase(t table.Type) string {
	switch t {
	case table.TypeString, table.TypeJSON:
		return "strings"
	case table.TypeInt64, table.TypeTimestamp:
		return "int64s"
	case table.TypeDouble:
		return "doubles"
	case table.TypeBool:
		return "bools"
	case table.TypeBytes:
		return "bytes_list"
	case table.TypeFloatVector:
		return "vectors"
	case table.TypeStringList:
		return "string_lists"
	}
	return "?"
}
