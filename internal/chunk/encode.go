package chunk

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/table"
)

// The chunk encoder writes the protobuf wire format of
// IngestDataRequest{chunk: DataChunk{...}} straight from a table's columns,
// byte for byte what proto.Marshal writes for wire.ChunkToProto's message
// (regular fields in number order before the oneof, proto3 zero scalars
// omitted, oneof messages always present), without building the message
// tree first: no per-row Strings messages for string lists, no separate size
// pass over a message tree, and float vectors and doubles copied as blocks
// on little-endian machines.
// encode_test.go checks the equivalence on every column type.

// Field numbers of the contract (proto/embeddingstream/v1).
const (
	fieldRequestChunk     = 2 // IngestDataRequest.chunk
	fieldChunkSequence    = 1 // DataChunk.sequence
	fieldChunkFirstRecord = 2 // DataChunk.first_record
	fieldChunkCount       = 3 // DataChunk.record_count
	fieldChunkColumns     = 4 // DataChunk.columns
	fieldColumnNulls      = 8 // Column.null_indices
	fieldValues           = 1 // Strings/Int64s/Doubles/Bools/BytesList/StringLists.values
	fieldVectorsDim       = 1 // FloatVectors.dim
	fieldVectorsValues    = 2 // FloatVectors.values
)

// columnField is the Column oneof field number carrying each type.
func columnField(t table.Type) protowire.Number {
	switch t {
	case table.TypeString, table.TypeJSON:
		return 1
	case table.TypeInt64, table.TypeTimestamp:
		return 2
	case table.TypeDouble:
		return 3
	case table.TypeBool:
		return 4
	case table.TypeBytes:
		return 5
	case table.TypeFloatVector:
		return 6
	case table.TypeStringList:
		return 7
	}
	return 0
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// chunkSize returns the encoded size of the request carrying rows [lo, hi)
// of t as chunk seq, whose first row is record first of the dataset (t may
// be a window of it).
func chunkSize(t *table.Table, lo, hi int, seq, first uint64) int {
	n := chunkBodySize(t, lo, hi, seq, first)
	return protowire.SizeTag(fieldRequestChunk) + protowire.SizeBytes(n)
}

func chunkBodySize(t *table.Table, lo, hi int, seq, first uint64) int {
	n := 0
	n += sizeVarintField(fieldChunkSequence, seq)
	n += sizeVarintField(fieldChunkFirstRecord, first)
	n += sizeVarintField(fieldChunkCount, uint64(hi-lo))
	for _, c := range t.Columns {
		n += protowire.SizeTag(fieldChunkColumns) + protowire.SizeBytes(columnSize(c, lo, hi))
	}
	return n
}

func sizeVarintField(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

// columnSize is the size of the Column message for rows [lo, hi) of c.
func columnSize(c *table.Column, lo, hi int) int {
	inner := valuesSize(c, lo, hi)
	n := protowire.SizeTag(columnField(c.Type)) + protowire.SizeBytes(inner)
	if p := nullsSize(c, lo, hi); p > 0 {
		n += protowire.SizeTag(fieldColumnNulls) + protowire.SizeBytes(p)
	}
	return n
}

// valuesSize is the size of the oneof's inner message.
func valuesSize(c *table.Column, lo, hi int) int {
	tag := protowire.SizeTag(fieldValues)
	switch c.Type {
	case table.TypeString, table.TypeJSON:
		n := 0
		for _, s := range c.Strings[lo:hi] {
			n += tag + protowire.SizeBytes(len(s))
		}
		return n
	case table.TypeInt64, table.TypeTimestamp:
		return packedSize(varintsSize(c.Int64s[lo:hi]))
	case table.TypeDouble:
		return packedSize(8 * (hi - lo))
	case table.TypeBool:
		return packedSize(hi - lo)
	case table.TypeBytes:
		n := 0
		for _, b := range c.Bytes[lo:hi] {
			n += tag + protowire.SizeBytes(len(b))
		}
		return n
	case table.TypeFloatVector:
		n := sizeVarintField(fieldVectorsDim, uint64(c.VectorDim))
		if k := (hi - lo) * c.VectorDim; k > 0 {
			n += protowire.SizeTag(fieldVectorsValues) + protowire.SizeBytes(4*k)
		}
		return n
	case table.TypeStringList:
		n := 0
		for _, l := range c.StringLists[lo:hi] {
			n += tag + protowire.SizeBytes(stringsSize(l))
		}
		return n
	}
	return 0
}

// packedSize is the size of a packed repeated field 1 of n payload bytes.
func packedSize(n int) int {
	if n == 0 {
		return 0
	}
	return protowire.SizeTag(fieldValues) + protowire.SizeBytes(n)
}

func varintsSize(vs []int64) int {
	n := 0
	for _, v := range vs {
		n += protowire.SizeVarint(uint64(v))
	}
	return n
}

func stringsSize(l []string) int {
	n := 0
	for _, s := range l {
		n += protowire.SizeTag(fieldValues) + protowire.SizeBytes(len(s))
	}
	return n
}

func nullsSize(c *table.Column, lo, hi int) int {
	n := 0
	for _, r := range c.NullsIn(lo, hi) {
		n += protowire.SizeVarint(uint64(r - lo))
	}
	return n
}

// appendChunk appends the encoded request carrying rows [lo, hi) of t as
// chunk seq to b; first is the dataset's record index of row lo (lo itself
// when t is the whole dataset, more when t is a window of it). It fails
// only on a string that is not valid UTF-8, which the contract (and every
// protobuf decoder) refuses ([sink.ErrRejected]); columns marked
// table.Column.ValidUTF8 (checked by their producer, e.g. pickleload) are
// not checked again (the check was 40-60 % of encoding a string-heavy
// chunk).
func appendChunk(b []byte, t *table.Table, lo, hi int, seq, first uint64) ([]byte, error) {
	b = protowire.AppendTag(b, fieldRequestChunk, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(chunkBodySize(t, lo, hi, seq, first)))
	b = appendVarintField(b, fieldChunkSequence, seq)
	b = appendVarintField(b, fieldChunkFirstRecord, first)
	b = appendVarintField(b, fieldChunkCount, uint64(hi-lo))
	for _, c := range t.Columns {
		b = protowire.AppendTag(b, fieldChunkColumns, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(columnSize(c, lo, hi)))
		var err error
		if b, err = appendColumn(b, c, lo, hi, first); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendColumn appends the Column message for rows [lo, hi) of c; first is
// the dataset's record index of row lo, for errors.
func appendColumn(b []byte, c *table.Column, lo, hi int, first uint64) ([]byte, error) {
	// null_indices first: protobuf-go writes regular fields before oneofs.
	if p := nullsSize(c, lo, hi); p > 0 {
		b = protowire.AppendTag(b, fieldColumnNulls, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(p))
		for _, r := range c.NullsIn(lo, hi) {
			b = protowire.AppendVarint(b, uint64(r-lo))
		}
	}
	b = protowire.AppendTag(b, columnField(c.Type), protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(valuesSize(c, lo, hi)))
	switch c.Type {
	case table.TypeString, table.TypeJSON:
		for i, s := range c.Strings[lo:hi] {
			if !c.ValidUTF8 && !utf8.ValidString(s) {
				return nil, fmt.Errorf("%w: column %q row %d: string is not valid UTF-8", sink.ErrRejected, c.Name, first+uint64(i))
			}
			b = protowire.AppendTag(b, fieldValues, protowire.BytesType)
			b = protowire.AppendString(b, s)
		}
	case table.TypeInt64, table.TypeTimestamp:
		vs := c.Int64s[lo:hi]
		if len(vs) > 0 {
			b = protowire.AppendTag(b, fieldValues, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(varintsSize(vs)))
			for _, v := range vs {
				b = protowire.AppendVarint(b, uint64(v))
			}
		}
	case table.TypeDouble:
		vs := c.Doubles[lo:hi]
		if len(vs) > 0 {
			b = protowire.AppendTag(b, fieldValues, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(8*len(vs)))
			if littleEndian {
				b = append(b, unsafe.Slice((*byte)(unsafe.Pointer(&vs[0])), 8*len(vs))...)
			} else {
				for _, v := range vs {
					b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
				}
			}
		}
	case table.TypeBool:
		vs := c.Bools[lo:hi]
		if len(vs) > 0 {
			b = protowire.AppendTag(b, fieldValues, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(len(vs)))
			for _, v := range vs {
				b = append(b, byte(protowire.EncodeBool(v)))
			}
		}
	case table.TypeBytes:
		for _, v := range c.Bytes[lo:hi] {
			b = protowire.AppendTag(b, fieldValues, protowire.BytesType)
			b = protowire.AppendBytes(b, v)
		}
	case table.TypeFloatVector:
		b = appendVarintField(b, fieldVectorsDim, uint64(c.VectorDim))
		if c.RawVectors != nil {
			// rows already in the wire's packed little-endian form
			if k := (hi - lo) * c.VectorDim; k > 0 {
				b = protowire.AppendTag(b, fieldVectorsValues, protowire.BytesType)
				b = protowire.AppendVarint(b, uint64(4*k))
				for _, v := range c.RawVectors[lo:hi] {
					if v == nil {
						b = append(b, make([]byte, 4*c.VectorDim)...) // null row: zeros
					} else {
						b = append(b, v...)
					}
				}
			}
			break
		}
		vs := c.Vectors[lo*c.VectorDim : hi*c.VectorDim]
		if len(vs) > 0 {
			b = protowire.AppendTag(b, fieldVectorsValues, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(4*len(vs)))
			if littleEndian {
				b = append(b, unsafe.Slice((*byte)(unsafe.Pointer(&vs[0])), 4*len(vs))...)
			} else {
				for _, v := range vs {
					b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
				}
			}
		}
	case table.TypeStringList:
		for i, l := range c.StringLists[lo:hi] {
			b = protowire.AppendTag(b, fieldValues, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(stringsSize(l)))
			for _, s := range l {
				if !c.ValidUTF8 && !utf8.ValidString(s) {
					return nil, fmt.Errorf("%w: column %q row %d: string is not valid UTF-8", sink.ErrRejected, c.Name, first+uint64(i))
				}
				b = protowire.AppendTag(b, fieldValues, protowire.BytesType)
				b = protowire.AppendString(b, s)
			}
		}
	}
	return b, nil
}
