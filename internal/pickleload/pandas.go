package pickleload

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/embedstream/embedstream/internal/table"
)

// pandas objects: DataFrame and Series state, block managers, blocks,
// indexes and extension arrays, as pandas 1.x and 2.x pickle them.

func stateDict(o *pyObject) (*types.Dict, bool) {
	d, ok := o.state.(*types.Dict)
	return d, ok
}

func dictGet(d *types.Dict, key string) (any, bool) {
	for i := len(*d) - 1; i >= 0; i-- {
		if s, ok := (*d)[i].Key.(string); ok && s == key {
			return (*d)[i].Value, true
		}
	}
	return nil, false
}

func items(v any) ([]any, bool) {
	switch x := v.(type) {
	case *types.List:
		return *x, true
	case *types.Tuple:
		return *x, true
	case *vmList:
		return x.all(), true
	}
	touch(v)
	return nil, false
}

// manager returns the axes and blocks of a BlockManager/SingleBlockManager.
func manager(v any) (axes []any, blocks []*pdBlock, err error) {
	m, ok := v.(*pyObject)
	if !ok || !strings.HasSuffix(m.name, "BlockManager") {
		return nil, nil, newErr(ErrUnsupported, -1, "", "pandas object without a block manager (got %s)", typeName(v))
	}
	// pandas >= 1.? : REDUCE BlockManager(blocks, axes)
	if len(m.args) >= 2 {
		bs, ok1 := items(m.args[0])
		ax, ok2 := items(m.args[1])
		if ok1 && ok2 {
			for _, b := range bs {
				pb, ok := b.(*pdBlock)
				if !ok {
					return nil, nil, newErr(ErrUnsupported, -1, "", "pandas block of type %s", typeName(b))
				}
				blocks = append(blocks, pb)
			}
			return ax, blocks, nil
		}
	}
	// __setstate__ state: (..., {"0.14.1": {"axes": [...], "blocks": [{"values", "mgr_locs"}]}})
	st, ok := items(m.state)
	if ok && len(st) > 0 {
		if d, ok := st[len(st)-1].(*types.Dict); ok {
			if inner, ok := dictGet(d, "0.14.1"); ok {
				if id, ok := inner.(*types.Dict); ok {
					axv, _ := dictGet(id, "axes")
					blv, _ := dictGet(id, "blocks")
					ax, ok1 := items(axv)
					bl, ok2 := items(blv)
					if ok1 && ok2 {
						for _, b := range bl {
							bd, ok := b.(*types.Dict)
							if !ok {
								return nil, nil, newErr(ErrUnsupported, -1, "", "pandas block state of type %s", typeName(b))
							}
							vals, _ := dictGet(bd, "values")
							locs, _ := dictGet(bd, "mgr_locs")
							blocks = append(blocks, &pdBlock{values: vals, placement: locs})
						}
						return ax, blocks, nil
					}
				}
			}
		}
	}
	return nil, nil, newErr(ErrUnsupported, -1, "", "pandas block manager in a layout this loader does not read")
}

// placement returns a block's column positions (or a SparseArray's
// positions), refusing more than limit of them before allocating any.
func placement(v any, limit int) ([]int, error) {
	switch x := v.(type) {
	case *pySlice:
		start, _ := x.start.(int)
		stop, ok := x.stop.(int)
		step := 1
		if s, ok := x.step.(int); ok && s != 0 {
			step = s
		}
		if !ok || step <= 0 || start < 0 || stop < start {
			return nil, newErr(ErrMalformed, -1, "", "bad block placement")
		}
		n, err := rangeLen(start, stop, step)
		if err != nil {
			return nil, err
		}
		if n > limit {
			return nil, newErr(ErrMalformed, -1, "", "block placement of %d positions where at most %d remain", n, limit)
		}
		out := make([]int, 0, n)
		for i := start; i < stop; i += step {
			out = append(out, i)
		}
		return out, nil
	case *pyObject, *ndarray:
		a, ok, err := asArray(x)
		if err != nil || !ok {
			return nil, newErr(ErrMalformed, -1, "", "bad block placement of type %s", typeName(v))
		}
		if a.len() > limit {
			return nil, newErr(ErrMalformed, -1, "", "block placement of %d positions where at most %d remain", a.len(), limit)
		}
		if a.dtype.kind != 'i' && a.dtype.kind != 'u' {
			return nil, newErr(ErrMalformed, -1, "", "block placement of dtype %s", a.dtype.str)
		}
		out := make([]int, a.len())
		for i := range out {
			n, ok := a.int64At(i)
			if !ok || n < 0 || n > math.MaxInt32 {
				return nil, newErr(ErrMalformed, -1, "", "bad block placement")
			}
			out[i] = int(n)
		}
		return out, nil
	case *types.List, *types.Tuple:
		its, _ := items(x)
		if len(its) > limit {
			return nil, newErr(ErrMalformed, -1, "", "block placement of %d positions where at most %d remain", len(its), limit)
		}
		out := make([]int, len(its))
		for i, it := range its {
			n, ok := it.(int)
			if !ok || n < 0 || n > math.MaxInt32 {
				return nil, newErr(ErrMalformed, -1, "", "bad block placement")
			}
			out[i] = n
		}
		return out, nil
	}
	return nil, newErr(ErrMalformed, -1, "", "bad block placement of type %s", typeName(v))
}

// frameManager returns the state dict of a DataFrame or Series and the
// axes and blocks of its block manager (_mgr; _data before pandas 1.1).
func frameManager(o *pyObject) (*types.Dict, []any, []*pdBlock, error) {
	st, ok := stateDict(o)
	if !ok {
		return nil, nil, nil, newErr(ErrUnsupported, -1, "", "%s without a state dict", o.name)
	}
	mv, ok := dictGet(st, "_mgr")
	if !ok {
		mv, _ = dictGet(st, "_data")
	}
	axes, blocks, err := manager(mv)
	return st, axes, blocks, err
}

// dataFrame converts a pandas DataFrame.
func (c *conv) dataFrame(df *pyObject) (*table.Table, error) {
	_, axes, blocks, err := frameManager(df)
	if err != nil {
		return nil, err
	}
	if len(axes) != 2 {
		return nil, newErr(ErrUnsupported, -1, "", "DataFrame with %d axes", len(axes))
	}
	labels, err := c.columnLabels(axes[0])
	if err != nil {
		return nil, err
	}
	rows, err := c.indexLen(axes[1])
	if err != nil {
		return nil, err
	}
	// Every column costs a *table.Column whatever its rows: charge them
	// before allocating, so a huge label count from a few bytes is a limit.
	if err := c.spendOn(int64(labels.n)*columnCost, "a DataFrame of %d columns", labels.n); err != nil {
		return nil, err
	}
	cols := make([]*table.Column, labels.n)
	placed := 0
	for _, b := range blocks {
		pos, err := placement(b.placement, labels.n-placed)
		if err != nil {
			return nil, err
		}
		placed += len(pos)
		for k, p := range pos {
			if p >= len(cols) {
				return nil, newErr(ErrMalformed, -1, "", "block placement %d beyond %d columns", p, len(cols))
			}
			name := labels.name(p)
			if cols[p] != nil {
				return nil, colErr(ErrMalformed, name, -1, "two blocks hold this column")
			}
			col, err := c.valuesColumn(name, b.values, k, len(pos) > 1 || is2D(b.values), rows)
			if err != nil {
				return nil, err
			}
			cols[p] = col
		}
	}
	t := &table.Table{NumRows: rows}
	idxCols, err := c.indexColumns(axes[1], rows)
	if err != nil {
		return nil, err
	}
	t.Columns = append(t.Columns, idxCols...)
	for i, col := range cols {
		if col == nil {
			return nil, colErr(ErrMalformed, labels.name(i), -1, "no block holds this column")
		}
		t.Columns = append(t.Columns, col)
	}
	if len(t.Columns) == 0 {
		t.NumRows = 0 // no columns: nothing to stream, whatever the index says
	}
	return t, nil
}

// colLabels are a DataFrame's column labels. A RangeIndex stays a range
// (names are made one at a time, nothing per label is held); any other
// index holds its values.
type colLabels struct {
	n           int
	start, step int
	vals        []any // nil for a range
}

func (l colLabels) name(i int) string {
	if l.vals == nil {
		return strconv.Itoa(l.start + i*l.step)
	}
	return keyName(l.vals[i])
}

// columnLabels returns the column labels of a DataFrame.
func (c *conv) columnLabels(v any) (colLabels, error) {
	o, d, err := indexState(v)
	if err != nil {
		return colLabels{}, err
	}
	if start, stop, step, ok := isRange(o, d); ok {
		n, err := rangeLen(start, stop, step)
		return colLabels{n: n, start: start, step: step}, err
	}
	vals, err := c.indexLabels(v)
	return colLabels{n: len(vals), vals: vals}, err
}

func is2D(v any) bool {
	if a, ok, _ := asArray(v); ok {
		return len(a.shape) == 2
	}
	if o, ok := v.(*pyObject); ok {
		if _, arr, ok := ndbState(o); ok {
			return is2D(arr)
		}
	}
	return false
}

// series converts a pandas Series: index column(s) then the values.
func (c *conv) series(s *pyObject) (*table.Table, error) {
	st, axes, blocks, err := frameManager(s)
	if err != nil {
		return nil, err
	}
	if len(axes) != 1 || len(blocks) != 1 {
		return nil, newErr(ErrUnsupported, -1, "", "Series with %d axes and %d blocks", len(axes), len(blocks))
	}
	rows, err := c.indexLen(axes[0])
	if err != nil {
		return nil, err
	}
	name := "value"
	for _, k := range []string{"name", "_name"} { // pandas 2.x keeps it as _name
		if n, ok := dictGet(st, k); ok && n != nil {
			name = keyName(n)
		}
	}
	col, err := c.valuesColumn(name, blocks[0].values, 0, false, rows)
	if err != nil {
		return nil, err
	}
	t := &table.Table{NumRows: rows}
	idxCols, err := c.indexColumns(axes[0], rows)
	if err != nil {
		return nil, err
	}
	t.Columns = append(idxCols, col)
	return t, nil
}

// ndbState returns the dtype and the backing array of an NDArrayBacked
// extension array (DatetimeArray, Categorical, StringArray, ...).
func ndbState(o *pyObject) (dt any, arr any, ok bool) {
	touch(o.state)
	switch st := o.state.(type) {
	case *types.Tuple:
		if len(*st) >= 2 {
			return (*st)[0], (*st)[1], true
		}
	case *types.Dict:
		dt, _ = dictGet(st, "_dtype")
		for _, k := range []string{"_ndarray", "_data", "_codes"} {
			if v, ok := dictGet(st, k); ok {
				return dt, v, true
			}
		}
	}
	return nil, nil, false
}

// valuesColumn converts row k of block values (an ndarray or a pandas
// extension array) into a column of rows values. twoD says whether the
// values are 2-D (items x rows).
func (c *conv) valuesColumn(name string, v any, k int, twoD bool, rows int) (*table.Column, error) {
	if a, ok, err := asArray(v); err != nil {
		return nil, withColumn(err, name, -1)
	} else if ok {
		return c.arrayRow(name, a, k, rows, nil)
	}
	o, ok := v.(*pyObject)
	if !ok {
		return nil, colErr(ErrUnsupported, name, -1, "column values of type %s", typeName(v))
	}
	if o.inert || strings.Contains(o.name, "Arrow") || strings.Contains(o.module, "arrow") {
		return nil, colErr(ErrUnsupported, name, -1, "unsupported dtype: Arrow-backed column (%s)", o.name)
	}
	switch o.name {
	case "Categorical":
		return c.categorical(name, o, rows)
	case "IntegerArray", "FloatingArray", "BooleanArray":
		st, ok := stateDict(o)
		if !ok {
			return nil, colErr(ErrUnsupported, name, -1, "%s without a state dict", o.name)
		}
		data, _ := dictGet(st, "_data")
		maskv, _ := dictGet(st, "_mask")
		a, ok1, err := asArray(data)
		m, ok2, err2 := asArray(maskv)
		if err != nil || err2 != nil || !ok1 || !ok2 || m.len() != a.len() {
			return nil, colErr(ErrMalformed, name, -1, "%s with bad data or mask", o.name)
		}
		mask := make([]bool, m.len())
		for i := range mask {
			mask[i], _ = m.at(i).(bool)
		}
		return c.arrayRow(name, a, k, rows, mask)
	case "StringArray":
		// pandas "string" dtype: STRING even when every value is NA.
		_, arr, ok := ndbState(o)
		a, isArr, err := asArray(arr)
		if !ok || !isArr || err != nil {
			return nil, colErr(ErrMalformed, name, -1, "StringArray without its values")
		}
		col, err := c.arrayRow(name, a, k, rows, nil)
		if err != nil {
			return nil, err
		}
		if lc := c.lazyCol(col); lc != nil {
			lc.stringArray = true // its type is known after pass C
			return col, nil
		}
		if col.Type == table.TypeJSON && len(col.Nulls) == col.Len() {
			col.Type = table.TypeString // all NA: the dtype says STRING
		}
		if col.Type != table.TypeString {
			return nil, colErr(ErrMalformed, name, -1, "StringArray holding non-str values")
		}
		return col, nil
	case "SparseArray":
		return c.sparse(name, o, rows)
	case "PeriodArray", "IntervalArray":
		return nil, colErr(ErrUnsupported, name, -1, "unsupported dtype: %s", o.name)
	}
	if _, arr, ok := ndbState(o); ok {
		// DatetimeArray (values are UTC), TimedeltaArray, StringArray, ...
		a, isArr, err := asArray(arr)
		if err != nil {
			return nil, withColumn(err, name, -1)
		}
		if isArr {
			return c.arrayRow(name, a, k, rows, nil)
		}
	}
	return nil, colErr(ErrUnsupported, name, -1, "unsupported dtype: %s", o.qualname())
}

// arrayRow converts row k of a 2-D array (or a whole 1-D array) to a column.
func (c *conv) arrayRow(name string, a *ndarray, k, rows int, mask []bool) (*table.Column, error) {
	start, n := 0, a.len()
	if len(a.shape) == 2 {
		if k >= a.shape[0] {
			return nil, colErr(ErrMalformed, name, -1, "block has %d rows, placement wants row %d", a.shape[0], k)
		}
		start, n = k*a.shape[1], a.shape[1]
	} else if k != 0 {
		return nil, colErr(ErrMalformed, name, -1, "1-D block with placement row %d", k)
	}
	if n != rows {
		return nil, colErr(ErrMalformed, name, -1, "column has %d values, the index %d", n, rows)
	}
	return c.typedColumn(name, a, start, n, mask)
}

// typedColumn converts elements [start, start+n) (row-major) of a to a
// column, decoding numeric dtypes straight into typed slices.
func (c *conv) typedColumn(name string, a *ndarray, start, n int, mask []bool) (*table.Column, error) {
	col := &table.Column{Field: table.Field{Name: name}}
	null := func(i int) bool { return mask != nil && mask[i] }
	if err := c.spend(int64(n)); err != nil {
		return nil, err
	}
	kind := a.dtype.kind
	if (kind == 'f' || kind == 'i' || kind == 'u') && (!a.plainSize() || kind == 'f' && a.dtype.size == 1) {
		return nil, colErr(ErrUnsupported, name, -1, "numpy dtype %s", a.dtype.str)
	}
	switch kind {
	case 'f':
		col.Type = table.TypeDouble
		col.Doubles = make([]float64, n)
		if a.dtype.size == 8 && !a.dtype.big && a.contiguous() {
			raw := a.raw[8*start : 8*(start+n)]
			for i := range col.Doubles {
				f := math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
				if null(i) || math.IsNaN(f) || math.IsInf(f, 0) {
					col.Nulls = append(col.Nulls, i)
					continue
				}
				col.Doubles[i] = f
			}
			break
		}
		for i := range col.Doubles {
			f, _ := a.floatAt(start + i)
			if null(i) || math.IsNaN(f) || math.IsInf(f, 0) {
				col.Nulls = append(col.Nulls, i)
				continue
			}
			col.Doubles[i] = f
		}
	case 'i', 'u':
		col.Type = table.TypeInt64
		col.Int64s = make([]int64, n)
		for i := range col.Int64s {
			if null(i) {
				col.Nulls = append(col.Nulls, i)
				continue
			}
			v, ok := a.int64At(start + i)
			if !ok {
				return nil, colErr(ErrUnsupported, name, i, "uint64 value %d is outside the int64 range", a.bits(start+i))
			}
			col.Int64s[i] = v
		}
	case 'b':
		col.Type = table.TypeBool
		col.Bools = make([]bool, n)
		for i := 0; i < n; i++ {
			if null(i) {
				col.Nulls = append(col.Nulls, i)
				continue
			}
			col.Bools[i] = a.raw[a.index(start+i)] != 0
		}
	case 'M':
		col.Type = table.TypeTimestamp
		col.Int64s = make([]int64, n)
		for i := range col.Int64s {
			v := int64(a.bits(start + i))
			if null(i) || v == math.MinInt64 { // NaT
				col.Nulls = append(col.Nulls, i)
				continue
			}
			us, ok, overflow := scaleToMicros(v, a.dtype.unit)
			switch {
			case !ok:
				return nil, colErr(ErrUnsupported, name, i, "unsupported datetime unit %q", a.dtype.unit)
			case overflow:
				return nil, colErr(ErrMalformed, name, i, "datetime64[%s] value %d is out of range", a.dtype.unit, v)
			}
			col.Int64s[i] = us
		}
	default:
		if a.lazy != nil && c.lz != nil && mask == nil {
			return c.lazyArrayColumn(name, a, start, n), nil
		}
		vals := make([]any, n)
		for i := range vals {
			if !null(i) {
				vals[i] = a.at(start + i)
			}
		}
		return c.buildColumn(name, vals)
	}
	col.Nullable = len(col.Nulls) > 0
	return col, nil
}

// sparse densifies a SparseArray: the fill value everywhere but at the
// positions its BlockIndex or IntIndex lists, which take its values.
func (c *conv) sparse(name string, o *pyObject, rows int) (*table.Column, error) {
	st, ok := stateDict(o)
	if !ok {
		return nil, colErr(ErrUnsupported, name, -1, "SparseArray without a state dict")
	}
	idxv, _ := dictGet(st, "_sparse_index")
	valsv, _ := dictGet(st, "_sparse_values")
	vals, ok, err := asArray(valsv)
	if err != nil || !ok {
		return nil, colErr(ErrMalformed, name, -1, "SparseArray without values")
	}
	var fill any = math.NaN()
	if dt, ok := dictGet(st, "_dtype"); ok {
		if dto, ok := dt.(*pyObject); ok {
			if d, ok := stateDict(dto); ok {
				if f, ok := dictGet(d, "_fill_value"); ok {
					fill = f
				}
			}
		}
	}
	idx, ok := idxv.(*pyObject)
	if !ok || len(idx.args) < 2 {
		return nil, colErr(ErrUnsupported, name, -1, "SparseArray index of type %s", typeName(idxv))
	}
	length, _ := idx.args[0].(int)
	if length != rows || length < 0 {
		return nil, colErr(ErrMalformed, name, -1, "SparseArray of length %d, the index %d", length, rows)
	}
	if err := c.spend(int64(length) * valueCost); err != nil {
		return nil, withColumn(err, name, -1)
	}
	nvals := vals.len()
	var pos []int
	switch idx.name {
	case "IntIndex":
		p, err := placement(idx.args[1], nvals)
		if err != nil {
			return nil, withColumn(err, name, -1)
		}
		pos = p
	case "BlockIndex":
		if len(idx.args) < 3 {
			return nil, colErr(ErrMalformed, name, -1, "SparseArray BlockIndex without lengths")
		}
		starts, err1 := placement(idx.args[1], length)
		lens, err2 := placement(idx.args[2], length)
		if err1 != nil || err2 != nil || len(starts) != len(lens) {
			return nil, colErr(ErrMalformed, name, -1, "SparseArray BlockIndex")
		}
		// Blocks lie inside the array and hold nvals positions in all:
		// checked block by block before any position is listed.
		total := 0
		for b := range starts {
			if starts[b] > length-lens[b] {
				return nil, colErr(ErrMalformed, name, -1, "SparseArray block beyond its length")
			}
			if lens[b] > nvals-total {
				return nil, colErr(ErrMalformed, name, -1, "SparseArray blocks hold more positions than its %d values", nvals)
			}
			total += lens[b]
		}
		pos = make([]int, 0, total)
		for b := range starts {
			for j := 0; j < lens[b]; j++ {
				pos = append(pos, starts[b]+j)
			}
		}
	default:
		return nil, colErr(ErrUnsupported, name, -1, "SparseArray index %s", idx.name)
	}
	if len(pos) != nvals {
		return nil, colErr(ErrMalformed, name, -1, "SparseArray has %d values for %d positions", nvals, len(pos))
	}
	out := make([]any, length)
	for i := range out {
		out[i] = fill
	}
	for k, p := range pos {
		if p >= length {
			return nil, colErr(ErrMalformed, name, -1, "SparseArray position %d beyond its length", p)
		}
		out[p] = vals.at(k)
	}
	return c.buildColumn(name, out)
}

// categorical decodes a Categorical to its values.
func (c *conv) categorical(name string, o *pyObject, rows int) (*table.Column, error) {
	dtv, codesv, ok := ndbState(o)
	if !ok {
		return nil, colErr(ErrUnsupported, name, -1, "Categorical in a layout this loader does not read")
	}
	codes, ok, err := asArray(codesv)
	if err != nil || !ok {
		return nil, colErr(ErrMalformed, name, -1, "Categorical without codes")
	}
	dt, ok := dtv.(*pyObject)
	if !ok {
		return nil, colErr(ErrMalformed, name, -1, "Categorical without a dtype")
	}
	var catsv any
	if d, ok := stateDict(dt); ok {
		catsv, ok = dictGet(d, "categories")
		if !ok {
			catsv, _ = dictGet(d, "_categories")
		}
	}
	cats, err := c.indexLabels(catsv)
	if err != nil {
		return nil, withColumn(err, name, -1)
	}
	if codes.len() != rows {
		return nil, colErr(ErrMalformed, name, -1, "Categorical has %d codes, the index %d", codes.len(), rows)
	}
	vals := make([]any, rows)
	for i := range vals {
		code, err := codeAt(codes, i)
		if err != nil {
			return nil, withColumn(err, name, i)
		}
		if code < 0 {
			continue
		}
		if code >= int64(len(cats)) {
			return nil, colErr(ErrMalformed, name, i, "category code %d out of range", code)
		}
		vals[i] = cats[code]
	}
	return c.buildColumn(name, vals)
}

// codeAt returns code i of a Categorical's or MultiIndex level's codes
// (an integer array; -1 is missing), decoded without boxing. Codes of
// another dtype, or a uint64 code above the int64 range, are ErrMalformed.
func codeAt(codes *ndarray, i int) (int64, error) {
	n, ok := codes.int64At(i)
	if !ok || codes.dtype.kind == 'b' {
		return 0, newErr(ErrMalformed, -1, "", "category code of dtype %s", codes.dtype.str)
	}
	return n, nil
}

// indexData returns the state dict of an Index object.
func indexState(v any) (*pyObject, *types.Dict, error) {
	o, ok := v.(*pyObject)
	if !ok {
		return nil, nil, newErr(ErrUnsupported, -1, "", "pandas index of type %s", typeName(v))
	}
	d, _ := stateDict(o)
	return o, d, nil
}

func isRange(o *pyObject, d *types.Dict) (start, stop, step int, ok bool) {
	if o.name != "RangeIndex" || d == nil {
		return 0, 0, 0, false
	}
	start, step = 0, 1
	if v, ok := dictGet(d, "start"); ok {
		start, _ = v.(int)
	}
	if v, ok := dictGet(d, "step"); ok {
		if s, ok := v.(int); ok && s != 0 {
			step = s
		}
	}
	v, ok := dictGet(d, "stop")
	if !ok {
		return 0, 0, 0, false
	}
	stop, _ = v.(int)
	return start, stop, step, true
}

// rangeLen is len(range(start, stop, step)) (step != 0), computed without
// overflow; more than math.MaxInt32 items is an ErrLimit error.
func rangeLen(start, stop, step int) (int, error) {
	var d, s uint64
	switch {
	case step > 0 && stop > start:
		d, s = uint64(stop)-uint64(start), uint64(step)
	case step < 0 && stop < start:
		d, s = uint64(start)-uint64(stop), -uint64(step)
	default:
		return 0, nil
	}
	n := d / s
	if d%s != 0 {
		n++
	}
	if n > math.MaxInt32 {
		return 0, newErr(ErrLimit, -1, "", "range of %d items", n)
	}
	return int(n), nil
}

// indexLen returns the length of an index, charged to the conversion work
// (a row index costs nothing in the file but every row costs downstream).
func (c *conv) indexLen(v any) (int, error) {
	o, d, err := indexState(v)
	if err != nil {
		return 0, err
	}
	if start, stop, step, ok := isRange(o, d); ok {
		n, err := rangeLen(start, stop, step)
		if err != nil {
			return 0, err
		}
		if err := c.spendOn(int64(n), "a RangeIndex of %d rows", n); err != nil {
			return 0, err
		}
		return n, nil
	}
	if o.name == "MultiIndex" {
		codes, _ := dictGet(d, "codes")
		cs, _ := items(codes)
		if len(cs) == 0 {
			return 0, newErr(ErrUnsupported, -1, "", "MultiIndex without codes")
		}
		a, ok, err := asArray(cs[0])
		if err != nil || !ok {
			return 0, newErr(ErrMalformed, -1, "", "MultiIndex codes")
		}
		if err := c.spend(int64(a.len())); err != nil {
			return 0, err
		}
		return a.len(), nil
	}
	if c.lz != nil && d != nil {
		data, _ := dictGet(d, "data")
		if a, ok, err := asArray(data); err == nil && ok && a.lazy != nil {
			// an object index read in parts: its length is enough here
			if err := c.spend(int64(a.len())); err != nil {
				return 0, err
			}
			return a.len(), nil
		}
	}
	labels, err := c.indexLabels(v)
	return len(labels), err
}

// indexLabels returns the labels of an index as Go values.
func (c *conv) indexLabels(v any) ([]any, error) {
	o, d, err := indexState(v)
	if err != nil {
		return nil, err
	}
	if start, stop, step, ok := isRange(o, d); ok {
		n, err := rangeLen(start, stop, step)
		if err != nil {
			return nil, err
		}
		if err := c.spendOn(int64(n)*(16+valueCost), "a RangeIndex of %d labels", n); err != nil {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			out[i] = start + i*step
		}
		return out, nil
	}
	if d == nil {
		return nil, newErr(ErrUnsupported, -1, "", "pandas index %s without state", o.qualname())
	}
	if o.name == "MultiIndex" {
		cols, err := c.indexColumns(v, -1)
		if err != nil {
			return nil, err
		}
		n := 0
		if len(cols) > 0 {
			n = cols[0].Len()
		}
		out := make([]any, n)
		for r := range out {
			t := make(types.Tuple, len(cols))
			for i, col := range cols {
				t[i] = cellValue(col, r)
			}
			out[r] = &t
		}
		return out, nil
	}
	data, ok := dictGet(d, "data")
	if !ok {
		return nil, newErr(ErrUnsupported, -1, "", "pandas index %s without data", o.qualname())
	}
	return c.elements(data)
}

// elements returns every element of an array-like (ndarray or pandas
// extension array) as Go values.
func (c *conv) elements(v any) ([]any, error) {
	if a, ok, err := asArray(v); err != nil {
		return nil, err
	} else if ok {
		if err := c.spend(int64(a.len())); err != nil {
			return nil, err
		}
		out := make([]any, a.len())
		for i := range out {
			out[i] = a.at(i)
		}
		return out, nil
	}
	if o, ok := v.(*pyObject); ok {
		if o.name == "Categorical" {
			col, err := c.categoricalValues(o)
			return col, err
		}
		if _, arr, ok := ndbState(o); ok {
			return c.elements(arr)
		}
		return nil, newErr(ErrUnsupported, -1, "", "index values of type %s", o.qualname())
	}
	if its, ok := items(v); ok {
		return its, nil
	}
	return nil, newErr(ErrUnsupported, -1, "", "index values of type %s", typeName(v))
}

func (c *conv) categoricalValues(o *pyObject) ([]any, error) {
	dtv, codesv, ok := ndbState(o)
	if !ok {
		return nil, newErr(ErrUnsupported, -1, "", "Categorical layout")
	}
	codes, ok, err := asArray(codesv)
	if err != nil || !ok {
		return nil, newErr(ErrMalformed, -1, "", "Categorical without codes")
	}
	dt, _ := dtv.(*pyObject)
	if dt == nil {
		return nil, newErr(ErrMalformed, -1, "", "Categorical without a dtype")
	}
	d, _ := stateDict(dt)
	var catsv any
	if d != nil {
		catsv, _ = dictGet(d, "categories")
	}
	cats, err := c.indexLabels(catsv)
	if err != nil {
		return nil, err
	}
	out := make([]any, codes.len())
	for i := range out {
		code, err := codeAt(codes, i)
		if err != nil {
			return nil, err
		}
		if code >= 0 && code < int64(len(cats)) {
			out[i] = cats[code]
		}
	}
	return out, nil
}

// indexColumns returns the leading columns for a row index: none for a
// RangeIndex, one named after the index ("index" if unnamed), or one per
// level of a MultiIndex ("level_i" if unnamed).
func (c *conv) indexColumns(v any, rows int) ([]*table.Column, error) {
	o, d, err := indexState(v)
	if err != nil {
		return nil, err
	}
	if _, _, _, ok := isRange(o, d); ok {
		return nil, nil
	}
	if d == nil {
		return nil, newErr(ErrUnsupported, -1, "", "pandas index %s without state", o.qualname())
	}
	if o.name == "MultiIndex" {
		levelsv, _ := dictGet(d, "levels")
		codesv, ok := dictGet(d, "codes")
		if !ok {
			codesv, _ = dictGet(d, "labels") // pandas < 0.24
		}
		namesv, _ := dictGet(d, "names")
		levels, _ := items(levelsv)
		codes, _ := items(codesv)
		names, _ := items(namesv)
		if len(levels) != len(codes) || len(levels) == 0 {
			return nil, newErr(ErrUnsupported, -1, "", "MultiIndex layout")
		}
		var cols []*table.Column
		for i := range levels {
			labels, err := c.indexLabels(levels[i])
			if err != nil {
				return nil, err
			}
			ca, ok, err := asArray(codes[i])
			if rows < 0 && ok {
				rows = ca.len()
			}
			if err != nil || !ok || ca.len() != rows {
				return nil, newErr(ErrMalformed, -1, "", "MultiIndex codes")
			}
			name := "level_" + itoa(i)
			if i < len(names) && names[i] != nil {
				name = keyName(names[i])
			}
			vals := make([]any, rows)
			for r := range vals {
				code, err := codeAt(ca, r)
				if err != nil {
					return nil, withColumn(err, name, r)
				}
				if code >= 0 && code < int64(len(labels)) {
					vals[r] = labels[code]
				}
			}
			col, err := c.buildColumn(name, vals)
			if err != nil {
				return nil, err
			}
			cols = append(cols, col)
		}
		return cols, nil
	}
	name := "index"
	if n, ok := dictGet(d, "name"); ok && n != nil {
		name = keyName(n)
	}
	data, ok := dictGet(d, "data")
	if !ok {
		return nil, newErr(ErrUnsupported, -1, "", "pandas index %s without data", o.qualname())
	}
	col, err := c.valuesColumn(name, data, 0, false, rows)
	if err != nil {
		return nil, err
	}
	return []*table.Column{col}, nil
}

func itoa(i int) string {
	return keyName(i)
}

// cellValue returns row r of a column as a Go value (for labels).
func cellValue(col *table.Column, r int) any {
	if col.IsNull(r) {
		return nil
	}
	switch col.Type {
	case table.TypeString:
		return col.Strings[r]
	case table.TypeInt64:
		return col.Int64s[r]
	case table.TypeDouble:
		return col.Doubles[r]
	case table.TypeBool:
		return col.Bools[r]
	case table.TypeTimestamp:
		return &timeValue{us: col.Int64s[r]}
	}
	return nil
}
