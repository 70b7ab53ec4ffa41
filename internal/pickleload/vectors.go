package pickleload

import (
	"math"
	"slices"

	"github.com/embedstream/embedstream/internal/table"
)

// finiteVectors applies the wire contract's rule to FLOAT_VECTOR columns:
// values are never NaN or ±Inf, and a missing value is a null. A vector
// whose every element is NaN (how pandas users mark "no embedding", e.g.
// np.full(d, np.nan)) becomes a null row; a vector with some non-finite
// elements is corrupt data and refused (ErrUnsupported, naming the column
// and row). Vectors may alias the input, which the caller may be hashing
// concurrently, so a column is copied before its first null slot is zeroed.
func finiteVectors(t *table.Table) error {
	for _, c := range t.Columns {
		if c.Type != table.TypeFloatVector || c.VectorDim <= 0 {
			continue
		}
		var nulls []int
		copied := false
		for r := 0; r < t.Rows; r++ {
			v := c.Vectors[r*c.VectorDim : (r+1)*c.VectorDim]
			nan, bad := 0, false
			for _, f := range v {
				if f != f {
					nan++
				} else if math.IsInf(float64(f), 0) {
					bad = true
					break
				}
			}
			switch {
			case nan == 0 && !bad:
				continue
			case nan == len(v) && !c.IsNull(r):
				if !copied {
					c.Vectors = slices.Clone(c.Vectors)
					copied = true
				}
				clear(c.Vectors[r*c.VectorDim : (r+1)*c.VectorDim])
				nulls = append(nulls, r)
			case nan == len(v):
				// already null: just zero its slots
				if !copied {
					c.Vectors = slices.Clone(c.Vectors)
					copied = true
				}
				clear(c.Vectors[r*c.VectorDim : (r+1)*c.VectorDim])
			default:
				return colErr(ErrUnsupported, c.Name, r, "vector holds NaN or ±Inf among finite values (a missing vector must be all NaN or None)")
			}
		}
		if len(nulls) > 0 {
			c.Nullable = true
			c.Nulls = mergeSorted(c.Nulls, nulls)
		}
	}
	return nil
}

// mergeSorted merges two ascending, disjoint index lists.
func mergeSorted(a, b []int) []int {
	if len(a) == 0 {
		return b
	}
	out := make([]int, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i] < b[j] {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}
