package pickleload

import (
	"encoding/binary"
	"math"
	"math/big"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/embedstream/embedstream/internal/table"
)

// Type inference, split into a state that values are added to (and that
// the lazy path merges window by window, in row order) and a resolution
// to a column type. buildColumn is inference over all values, then
// buildTyped; the lazy path infers over every window first (pass C), then
// builds each window with the final type.

// colInfer is what inference has learnt about a column's values so far.
// The eager path keeps only seen and nonNull; the lazy path (extra) also
// keeps every fact a later step of the eager conversion depends on, so
// that it can report the same errors and nullability without the values.
type colInfer struct {
	seen    [vkEmptyList + 1]bool
	nonNull int

	// extra facts (lazy path only); rows are the column's rows
	rows      int
	err       error // the first cell error (bad array, refused cell)
	nulls     bool  // some value is null
	bigRow    int   // first row holding an int beyond int64, or -1
	bigInfRow int   // first row holding an int too large for a float64, or -1
	infVal    bool  // a non-null float or Decimal is ±Inf (a null in DOUBLE)
	jsonErr   error // the first error writing a value as JSON
	vec       vecInfer
}

// vecInfer is what inference knows of the vectors (number lists) of a
// column: their length and the rows that FLOAT_VECTOR checks refuse.
type vecInfer struct {
	dim      int // length of the first vector, or -1
	dimRow   int // its row
	badRow   int // first row of another length, or -1
	badLen   int // that length
	allNaN   bool
	mixedRow int // first row holding NaN or ±Inf among finite values, or -1
}

func newColInfer() colInfer {
	return colInfer{bigRow: -1, bigInfRow: -1, vec: vecInfer{dim: -1, badRow: -1, mixedRow: -1}}
}

// inferCells adds vals (rows row0, row0+1, ...) to inf. Arrays held as
// objects are replaced in vals by their decoded *ndarray. A refused or
// malformed cell is an error (with its column and row); with extra it is
// kept in inf.err instead and inference of the column stops there.
func (c *conv) inferCells(inf *colInfer, name string, vals []any, row0 int, extra bool) error {
	for i, v := range vals {
		if extra {
			inf.rows++
		}
		if isNull(v) {
			inf.nulls = true
			continue
		}
		if o, ok := v.(*pyObject); ok {
			if a, isArr, err := asArray(o); err != nil {
				return inf.fail(withColumn(err, name, row0+i), extra)
			} else if isArr {
				vals[i] = a
				v = a
			}
		}
		if err := checkCell(v); err != nil {
			return inf.fail(withColumn(err, name, row0+i), extra)
		}
		k := kindOf(v)
		inf.seen[k] = true
		inf.nonNull++
		if extra {
			c.inferExtra(inf, name, v, k, row0+i)
		}
	}
	return nil
}

func (inf *colInfer) fail(err error, extra bool) error {
	if extra {
		inf.err = err
		return nil
	}
	return err
}

// inferExtra records the facts later checks need about the non-null value
// v of kind k at row.
func (c *conv) inferExtra(inf *colInfer, name string, v any, k valueKind, row int) {
	switch k {
	case vkBigInt:
		if inf.bigRow < 0 {
			inf.bigRow = row
		}
		if inf.bigInfRow < 0 && math.IsInf(toFloat(v), 0) {
			inf.bigInfRow = row
		}
	case vkFloat:
		if math.IsInf(toFloat(v), 0) {
			inf.infVal = true
		}
	case vkNumList:
		inferVector(&inf.vec, v, row)
	}
	if inf.jsonErr == nil && jsonRisky(v, k) {
		if _, err := c.appendJSON(nil, v, 0); err != nil {
			inf.jsonErr = withColumn(err, name, row)
		}
	}
}

// jsonRisky reports whether writing v (of kind k) as JSON can fail: other
// values (nested, cyclic, unsupported), ints beyond int64 (CPython's digit
// limit), and number lists holding them.
func jsonRisky(v any, k valueKind) bool {
	switch k {
	case vkOther, vkBigInt:
		return true
	case vkNumList, vkStrList:
		var items []any
		switch x := v.(type) {
		case *types.List:
			items = *x
		case *types.Tuple:
			items = *x
		case *vmList:
			items = x.items
		case *ndarray:
			items = x.objs
		}
		for _, it := range items {
			if _, ok := it.(*big.Int); ok {
				return true
			}
		}
	}
	return false
}

// inferVector records a number list's length and whether FLOAT_VECTOR's
// finiteness rule makes it a null (all NaN) or refuses it (NaN or ±Inf
// among finite values), on its float32 values as the column would hold
// them.
func inferVector(vi *vecInfer, v any, row int) {
	n := vecLen(v)
	switch {
	case vi.dim < 0:
		vi.dim, vi.dimRow = n, row
	case n != vi.dim && vi.badRow < 0:
		vi.badRow, vi.badLen = row, n
	}
	if n <= 0 {
		return
	}
	if a, ok := v.(*ndarray); ok && a.dtype.kind == 'f' && a.dtype.size == 4 && !a.dtype.big &&
		(!a.fortran || len(a.shape) < 2) && len(a.raw) >= 4*n {
		raw := a.raw[:4*n]
		if allFinite(raw) {
			return
		}
		nan := 0
		for j := 0; j+4 <= len(raw); j += 4 {
			u := binary.LittleEndian.Uint32(raw[j:])
			if u&expMask32 == expMask32 && u&(1<<23-1) != 0 {
				nan++
			}
		}
		vi.nonFinite(nan == n, row)
		return
	}
	buf := make([]float32, n)
	fillVector(buf, v)
	nan, bad := 0, false
	for _, f := range buf {
		if f != f {
			nan++
		} else if math.IsInf(float64(f), 0) {
			bad = true
		}
	}
	if nan == 0 && !bad {
		return
	}
	vi.nonFinite(nan == n && !bad, row)
}

func (vi *vecInfer) nonFinite(allNaN bool, row int) {
	if allNaN {
		vi.allNaN = true
	} else if vi.mixedRow < 0 {
		vi.mixedRow = row
	}
}

// merge adds b, the state of the rows that follow a's, to a.
func (a *colInfer) merge(b *colInfer) {
	if a.err != nil {
		return
	}
	if b.err != nil {
		a.err = b.err
	}
	for k, s := range b.seen {
		a.seen[k] = a.seen[k] || s
	}
	a.nonNull += b.nonNull
	a.rows += b.rows
	a.nulls = a.nulls || b.nulls
	if a.bigRow < 0 {
		a.bigRow = b.bigRow
	}
	if a.bigInfRow < 0 {
		a.bigInfRow = b.bigInfRow
	}
	a.infVal = a.infVal || b.infVal
	if a.jsonErr == nil {
		a.jsonErr = b.jsonErr
	}
	av, bv := &a.vec, &b.vec
	switch {
	case av.dim < 0:
		*av = *bv
		return
	case bv.dim >= 0 && bv.dim != av.dim && av.badRow < 0:
		av.badRow, av.badLen = bv.dimRow, bv.dim
	case av.badRow < 0 && bv.badRow >= 0:
		av.badRow, av.badLen = bv.badRow, bv.badLen
	}
	av.allNaN = av.allNaN || bv.allNaN
	if av.mixedRow < 0 {
		av.mixedRow = bv.mixedRow
	}
}

// resolve returns the column type the values seen call for (see doc.go,
// Type inference). bigInts reports ints beyond int64 without floats: an
// error (buildColumn names the first such row).
func (inf *colInfer) resolve() (typ table.Type, bigInts bool) {
	seen := &inf.seen
	n := 0
	for _, s := range seen {
		if s {
			n++
		}
	}
	typ = table.TypeJSON
	switch {
	case inf.nonNull == 0:
		typ = table.TypeJSON // all null: nothing to infer from
	case n == 1 && seen[vkBool]:
		typ = table.TypeBool
	case n == 1 && seen[vkInt]:
		typ = table.TypeInt64
	case seen[vkBigInt] && !seen[vkFloat]:
		bigInts = true
	case (seen[vkInt] || seen[vkFloat] || seen[vkBigInt]) && !seen[vkBool] && n == btoi(seen[vkInt])+btoi(seen[vkFloat])+btoi(seen[vkBigInt]):
		typ = table.TypeDouble
	case n == 1 && seen[vkString]:
		typ = table.TypeString
	case n == 1 && seen[vkTime]:
		typ = table.TypeTimestamp
	case n == 1 && seen[vkBytes]:
		typ = table.TypeBytes
	case (seen[vkStrList] || seen[vkEmptyList]) && n == btoi(seen[vkStrList])+btoi(seen[vkEmptyList]):
		typ = table.TypeStringList
	case n == 1 && seen[vkNumList]:
		typ = table.TypeFloatVector
	}
	return typ, bigInts
}

// finish returns the field the whole column resolves to, or the error the
// eager conversion (buildColumn, vectorColumn, then finiteVectors) would
// report for it. vecErr is the finiteVectors error, reported by the
// caller after every column's conversion.
func (inf *colInfer) finish(name string) (f table.Field, vecErr, err error) {
	if inf.err != nil {
		return f, nil, inf.err
	}
	typ, bigInts := inf.resolve()
	if bigInts {
		return f, nil, colErr(ErrUnsupported, name, inf.bigRow, "integer outside the int64 range")
	}
	f = table.Field{Name: name, Type: typ}
	switch typ {
	case table.TypeFloatVector:
		v := &inf.vec
		if v.badRow >= 0 {
			return f, nil, colErr(ErrUnsupported, name, v.badRow, "vector of length %d where earlier rows have %d", v.badLen, v.dim)
		}
		if v.dim == 0 {
			return f, nil, colErr(ErrUnsupported, name, -1, "vectors of length 0")
		}
		f.VectorDim = v.dim
		f.Nullable = inf.nulls || v.allNaN
		if v.mixedRow >= 0 {
			vecErr = colErr(ErrUnsupported, name, v.mixedRow, "vector holds NaN or ±Inf among finite values (a missing vector must be all NaN or None)")
		}
		return f, vecErr, nil
	case table.TypeDouble:
		if inf.bigInfRow >= 0 {
			return f, nil, colErr(ErrUnsupported, name, inf.bigInfRow, "integer too large for a float64")
		}
		f.Nullable = inf.nulls || inf.infVal
	case table.TypeJSON:
		if inf.jsonErr != nil {
			return f, nil, inf.jsonErr
		}
		f.Nullable = inf.nulls || inf.nonNull == 0
	default:
		f.Nullable = inf.nulls
	}
	return f, nil, nil
}
