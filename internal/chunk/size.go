package chunk

import (
	"math/bits"

	"github.com/embedstream/embedstream/internal/table"
)

// chunkOverhead and columnOverhead bound the encoded bytes of a chunk that
// do not depend on its rows (tags, lengths, sequence numbers).
const (
	chunkOverhead  = 48
	columnOverhead = 24
)

// sizer estimates the encoded size of a row of one table (a window) cheaply:
// a constant for the fixed-width columns plus a per-value term for the
// variable ones.
type sizer struct {
	fixed    int
	variable []*table.Column
}

func newSizer(t *table.Table) sizer {
	var s sizer
	for _, c := range t.Columns {
		switch c.Type {
		case table.TypeDouble:
			s.fixed += 8
		case table.TypeBool:
			s.fixed++
		case table.TypeFloatVector:
			s.fixed += 4 * c.VectorDim
		default:
			s.variable = append(s.variable, c)
		}
		if len(c.Nulls) > 0 {
			s.fixed++ // a null index is a small varint; amortised over rows
		}
	}
	return s
}

func varintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

func stringLen(n int) int { return 1 + varintLen(uint64(n)) + n }

// row returns the estimated encoded size of row i.
func (s *sizer) row(i int) int {
	n := s.fixed
	for _, c := range s.variable {
		switch c.Type {
		case table.TypeString, table.TypeJSON:
			n += stringLen(len(c.Strings[i]))
		case table.TypeInt64, table.TypeTimestamp:
			n += varintLen(uint64(c.Int64s[i]))
		case table.TypeBytes:
			n += stringLen(len(c.Bytes[i]))
		case table.TypeStringList:
			inner := 0
			for _, v := range c.StringLists[i] {
				inner += stringLen(len(v))
			}
			n += stringLen(inner)
		}
	}
	return n
}

// total returns the estimated encoded size of rows [lo, hi).
func (s *sizer) total(lo, hi int) int64 {
	if len(s.variable) == 0 {
		return int64(s.fixed) * int64(hi-lo)
	}
	var n int64
	for i := lo; i < hi; i++ {
		n += int64(s.row(i))
	}
	return n
}
