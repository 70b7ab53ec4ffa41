package pickleload

import (
	"encoding/binary"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/embedstream/embedstream/internal/table"
)

// finiteVectors applies the wire contract's rule to FLOAT_VECTOR columns:
// values are never NaN or ±Inf, and a missing value is a null. A vector
// whose every element is NaN (how pandas users mark "no embedding", e.g.
// np.full(d, np.nan)) becomes a null row; a vector with some non-finite
// elements is corrupt data and refused (ErrUnsupported, naming the column
// and row). The input is never written: a RawVectors row that is all NaN
// becomes nil, and a Vectors matrix, in case it aliases something, is copied
// before its first null slot is zeroed.
func finiteVectors(t *table.Table) error {
	for _, c := range t.Columns {
		if c.Type != table.TypeFloatVector || c.VectorDim <= 0 {
			continue
		}
		if c.RawVectors != nil {
			if err := finiteRaw(c); err != nil {
				return err
			}
			continue
		}
		var nulls []int
		copied := false
		for r := 0; r < t.NumRows; r++ {
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

// finiteRaw is finiteVectors for a column in the RawVectors layout: an
// all-NaN row becomes a null (its entry nil; the input is not touched).
func finiteRaw(c *table.Column) error {
	var nulls []int
	for _, r := range nonFiniteRows(c.RawVectors, 4*c.VectorDim) {
		v := c.RawVectors[r]
		nan := 0
		for j := 0; j+4 <= len(v); j += 4 {
			u := binary.LittleEndian.Uint32(v[j:])
			if u&expMask32 != expMask32 {
				continue
			}
			if u&(1<<23-1) == 0 { // ±Inf
				return colErr(ErrUnsupported, c.Name, r, "vector holds NaN or ±Inf among finite values (a missing vector must be all NaN or None)")
			}
			nan++
		}
		if nan != len(v)/4 {
			return colErr(ErrUnsupported, c.Name, r, "vector holds NaN or ±Inf among finite values (a missing vector must be all NaN or None)")
		}
		c.RawVectors[r] = nil
		nulls = append(nulls, r)
	}
	if len(nulls) > 0 {
		c.Nullable = true
		c.Nulls = mergeSorted(c.Nulls, nulls)
	}
	return nil
}

// nonFiniteRows returns, ascending, the rows holding a NaN or ±Inf. A
// large column is checked in parts on every CPU (up to 8): the check reads
// every byte of the vectors, which for an ndarray file is nearly all of it.
func nonFiniteRows(rows [][]byte, rowBytes int) []int {
	const partMin = 8 << 20 // bytes per part, at least
	parts := min(8, runtime.GOMAXPROCS(0), max(1, len(rows)*rowBytes/partMin))
	found := make([][]int, parts)
	check := func(i int) {
		lo, hi := i*len(rows)/parts, (i+1)*len(rows)/parts
		for r := lo; r < hi; r++ {
			if v := rows[r]; v != nil && !allFinite(v) {
				found[i] = append(found[i], r)
			}
		}
	}
	func() {
		var wg sync.WaitGroup
		defer wg.Wait() // even if check(0) panics: the rows may be unmapped after Load returns
		for i := 1; i < parts; i++ {
			wg.Go(func() { check(i) })
		}
		check(0)
	}()
	return slices.Concat(found...)
}

// expMask32 selects a float32's exponent: all ones means NaN or ±Inf.
const expMask32 = 0x7f800000

// allFinite reports whether the little-endian float32s in v are all
// finite. It reads two floats per 64-bit word and branches once per row: a
// float is non-finite when its exponent bits are all ones, i.e. when its
// 32-bit lane of (x & mask) ^ mask is zero, which the classic has-zero-lane
// test (lane - 1) & ^lane & high bit finds (exact here: the high bit of
// every lane is clear, so a borrow only follows a lane that is zero).
func allFinite(v []byte) bool {
	const (
		m    = expMask32<<32 | expMask32
		ones = 1<<32 | 1
		high = 1<<63 | 1<<31
	)
	var acc uint64
	j := 0
	for ; j+32 <= len(v); j += 32 {
		t0 := binary.LittleEndian.Uint64(v[j:])&m ^ m
		t1 := binary.LittleEndian.Uint64(v[j+8:])&m ^ m
		t2 := binary.LittleEndian.Uint64(v[j+16:])&m ^ m
		t3 := binary.LittleEndian.Uint64(v[j+24:])&m ^ m
		acc |= (t0-ones)&^t0 | (t1-ones)&^t1 | (t2-ones)&^t2 | (t3-ones)&^t3
	}
	for ; j+8 <= len(v); j += 8 {
		t := binary.LittleEndian.Uint64(v[j:])&m ^ m
		acc |= (t - ones) &^ t
	}
	if acc&high != 0 {
		return false
	}
	return j+4 > len(v) || binary.LittleEndian.Uint32(v[j:])&expMask32 != expMask32
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
