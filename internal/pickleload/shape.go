package pickleload

import (
	"encoding/binary"
	"math"
	"strings"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/embedstream/embedstream/internal/table"
)

// toTable converts the unpickled top-level object to a table. Column
// names are copied out of the input (O(columns)): values may alias a
// caller's reused buffer, names must not change under a running job.
func (c *conv) toTable(v any) (*table.Table, error) {
	t, err := c.convert(v)
	if err != nil {
		return nil, err
	}
	for _, col := range t.Columns {
		col.Name = strings.Clone(col.Name)
	}
	return t, nil
}

// convert dispatches on the shape of the top-level object.
func (c *conv) convert(v any) (*table.Table, error) {
	switch x := v.(type) {
	case *pyObject:
		switch {
		case x.name == "DataFrame" && isPandas(x.module):
			return c.dataFrame(x)
		case x.name == "Series" && isPandas(x.module):
			return c.series(x)
		}
		if a, ok, err := asArray(x); err != nil {
			return nil, err
		} else if ok {
			return c.arrayTable(a)
		}
		if isPandas(x.module) || isJoblib(x.module) || x.inert {
			return nil, newErr(ErrUnsupported, -1, "", "top-level object of type %s", x.qualname())
		}
		fields, err := objectFields(x)
		if err != nil {
			return nil, err
		}
		return c.records([]any{entriesDict(fields)})
	case *ndarray:
		return c.arrayTable(x)
	case *types.List:
		return c.sequence(*x)
	case *types.Tuple:
		return c.sequence(*x)
	case *vmList:
		if !x.boxed && len(x.floats) > 0 {
			return nil, newErr(ErrUnsupported, -1, "", "top-level list of floats (want records)")
		}
		return c.sequence(x.items)
	case *types.Dict:
		return c.dict(dictEntries(x))
	case *types.OrderedDict:
		return c.dict(orderedEntries(x))
	case *lazySeq:
		if c.lz != nil {
			return c.lazyRecords(x)
		}
	}
	return nil, newErr(ErrUnsupported, -1, "", "top-level object of type %s (want a DataFrame, Series, list of records, dict of columns or 2-D array)", typeName(v))
}

func isPandas(module string) bool {
	return module == "pandas" || len(module) > 7 && module[:7] == "pandas."
}

func entriesDict(es []entry) *types.Dict {
	d := make(types.Dict, len(es))
	for i, e := range es {
		d[i] = types.DictEntry{Key: e.key, Value: e.value}
	}
	return &d
}

// recordEntries returns the fields of a record (dict or object), or false.
func recordEntries(v any) ([]entry, bool, error) {
	switch x := v.(type) {
	case *types.Dict:
		return dictEntries(x), true, nil
	case *types.OrderedDict:
		return orderedEntries(x), true, nil
	case *pyObject:
		if x.module == "numpy" || isPandas(x.module) || isJoblib(x.module) || x.inert {
			return nil, false, nil
		}
		es, err := objectFields(x)
		return es, err == nil, err
	}
	return nil, false, nil
}

// sequence: a list or tuple of records; an empty list is an empty table.
func (c *conv) sequence(items []any) (*table.Table, error) {
	if len(items) == 0 {
		return &table.Table{}, nil
	}
	return c.records(items)
}

// records converts a list of records: the schema is the union of keys in
// first-seen order, missing keys are null.
func (c *conv) records(items []any) (*table.Table, error) {
	index := map[string]int{}
	var names []string
	var keys []pyKey // the key of each column: two keys printing alike are refused
	var cols [][]any
	for r, it := range items {
		if err := c.spend(1); err != nil {
			return nil, err
		}
		if d, ok := it.(*types.Dict); ok {
			if err := c.spend(int64(len(*d)) * entryCost); err != nil {
				return nil, withColumn(err, "", r)
			}
		}
		es, ok, err := recordEntries(it)
		if err != nil {
			return nil, withColumn(err, "", r)
		}
		if !ok {
			return nil, colErr(ErrUnsupported, "", r, "list item of type %s is not a record (dict or object)", typeName(it))
		}
		for _, e := range es {
			if err := checkKey(e.key); err != nil {
				return nil, withColumn(err, "", r)
			}
			name := keyName(e.key)
			k := keyOf(e.key)
			j, ok := index[name]
			if !ok {
				// a new column: one cell per record, charged up front
				if err := c.spend(int64(len(items)) * valueCost); err != nil {
					return nil, withColumn(err, name, r)
				}
				j = len(names)
				index[name] = j
				names = append(names, name)
				keys = append(keys, k)
				cols = append(cols, make([]any, len(items)))
			} else if keys[j] != k {
				return nil, colErr(ErrUnsupported, name, r, "duplicate column name: two different keys print as this name")
			}
			cols[j][r] = e.value
		}
	}
	t := &table.Table{NumRows: len(items)}
	for j, name := range names {
		col, err := c.buildColumn(name, cols[j])
		if err != nil {
			return nil, err
		}
		cols[j] = nil
		t.Columns = append(t.Columns, col)
	}
	return t, nil
}

// dict: a dict of equal-length columns (lists, arrays, a 2-D embedding
// matrix), or a single record when no value is a sequence.
func (c *conv) dict(es []entry) (*table.Table, error) {
	rows := -1
	seqs := 0
	nonSeq := -1
	// A Series value is converted once, while measuring it; its value
	// column is then taken as is.
	series := make([]*table.Column, len(es))
	for i, e := range es {
		if err := checkKey(e.key); err != nil {
			return nil, err
		}
		n, ok, col, err := c.seqLen(e.value)
		if err != nil {
			return nil, withColumn(err, keyName(e.key), -1)
		}
		if !ok {
			if nonSeq < 0 {
				nonSeq = i
			}
			continue
		}
		series[i] = col
		seqs++
		if rows < 0 {
			rows = n
		} else if n != rows {
			return nil, colErr(ErrUnsupported, keyName(e.key), -1, "column of %d values where earlier columns have %d", n, rows)
		}
	}
	if seqs == 0 {
		if t, ok, err := c.keyedDict(es); ok || err != nil {
			return t, err
		}
		return c.records([]any{entriesDict(es)})
	}
	if nonSeq >= 0 {
		e := es[nonSeq]
		return nil, colErr(ErrUnsupported, keyName(e.key), -1, "dict of columns with a non-sequence value of type %s", typeName(e.value))
	}
	t := &table.Table{NumRows: rows}
	for i, e := range es {
		name := keyName(e.key)
		col := series[i]
		if col != nil {
			col.Name = name
		} else {
			var err error
			if col, err = c.seqColumn(name, e.value, rows); err != nil {
				return nil, err
			}
		}
		t.Columns = append(t.Columns, col)
	}
	return t, nil
}

// seqLen returns the length of a column value, and false when v is not a
// sequence. A pandas Series is converted to find its length: its value
// column is returned too.
func (c *conv) seqLen(v any) (int, bool, *table.Column, error) {
	switch x := v.(type) {
	case *types.List:
		return len(*x), true, nil, nil
	case *types.Tuple:
		return len(*x), true, nil, nil
	case *vmList:
		return x.len(), true, nil, nil
	case *lazySeq:
		return int(x.q.count), true, nil, nil
	case *ndarray:
		if len(x.shape) == 0 {
			return 0, false, nil, nil
		}
		return x.shape[0], true, nil, nil
	case *pyObject:
		a, ok, err := asArray(x)
		if err != nil || !ok {
			if x.name == "Series" && isPandas(x.module) {
				t, err := c.series(x)
				if err != nil {
					return 0, false, nil, err
				}
				return t.NumRows, true, t.Columns[len(t.Columns)-1], nil
			}
			return 0, false, nil, err
		}
		return c.seqLen(a)
	}
	return 0, false, nil, nil
}

// seqColumn converts one column of a dict of columns (a Series is
// converted by seqLen).
func (c *conv) seqColumn(name string, v any, rows int) (*table.Column, error) {
	switch x := v.(type) {
	case *types.List:
		return c.buildColumn(name, *x)
	case *types.Tuple:
		return c.buildColumn(name, append([]any(nil), *x...))
	case *vmList:
		if !x.boxed && len(x.floats) > 0 {
			return c.floatsColumn(name, x.floats)
		}
		return c.buildColumn(name, x.all())
	case *pyObject:
		if a, ok, err := asArray(x); err != nil {
			return nil, withColumn(err, name, -1)
		} else if ok {
			return c.seqColumn(name, a, rows)
		}
	case *ndarray:
		return c.arrayColumn(name, x)
	case *lazySeq:
		if c.lz != nil {
			return c.lazyListColumn(name, x), nil
		}
	}
	return nil, colErr(ErrUnsupported, name, -1, "column of type %s", typeName(v))
}

// floatsColumn is a DOUBLE column of a list of Python floats (NaN and
// ±Inf are null), decoded without boxing them; a list of NaNs only is an
// all-null JSON column, as buildColumn types it.
func (c *conv) floatsColumn(name string, fs []float64) (*table.Column, error) {
	if err := c.spend(int64(len(fs))); err != nil {
		return nil, withColumn(err, name, -1)
	}
	col := &table.Column{Field: table.Field{Name: name, Type: table.TypeDouble}, Doubles: make([]float64, len(fs))}
	for i, f := range fs {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			col.Nulls = append(col.Nulls, i)
			continue
		}
		col.Doubles[i] = f
	}
	if len(col.Nulls) == len(fs) {
		// nothing to infer from: typed like any all-null column
		l := vmList{floats: fs}
		return c.buildColumn(name, l.all())
	}
	col.Nullable = len(col.Nulls) > 0
	return col, nil
}

// arrayTable: a 2-D float array is one FLOAT_VECTOR column "embedding"; a
// 1-D array is one column "value".
func (c *conv) arrayTable(a *ndarray) (*table.Table, error) {
	name := "value"
	if len(a.shape) == 2 {
		name = "embedding"
	}
	col, err := c.arrayColumn(name, a)
	if err != nil {
		return nil, err
	}
	rows := col.Len()
	if v := c.lazyView(col); v != nil {
		rows = v.rows
	}
	return &table.Table{Columns: []*table.Column{col}, NumRows: rows}, nil
}

// arrayColumn converts a numpy array to a column: 2-D numeric arrays are
// vectors (one per row), 1-D arrays are typed by their dtype.
func (c *conv) arrayColumn(name string, a *ndarray) (*table.Column, error) {
	if len(a.shape) == 2 {
		switch a.dtype.kind {
		case 'f', 'i', 'u':
		default:
			return nil, colErr(ErrUnsupported, name, -1, "2-D array of dtype %s", a.dtype.str)
		}
		rows, dim := a.shape[0], a.shape[1]
		if dim == 0 {
			return nil, colErr(ErrUnsupported, name, -1, "vectors of length 0")
		}
		col := &table.Column{Field: table.Field{Name: name, Type: table.TypeFloatVector, VectorDim: dim}}
		switch {
		case a.dtype.kind == 'f' && a.dtype.size == 4 && !a.dtype.big && a.contiguous():
			// the rows are already RawVectors' little-endian layout:
			// slice them in place, wherever the payload sits
			if err := c.spend(24 * int64(rows)); err != nil {
				return nil, withColumn(err, name, -1)
			}
			if c.lz != nil {
				return c.newLazyView(name, a, true), nil // rows sliced in windows only
			}
			col.RawVectors = make([][]byte, rows)
			w := 4 * dim
			for i := range col.RawVectors {
				col.RawVectors[i] = a.raw[i*w : (i+1)*w : (i+1)*w]
			}
			return col, nil
		case a.dtype.kind == 'f' && a.dtype.size == 4:
			if c.lz != nil {
				return c.newLazyView(name, a, false), nil // converted in windows only
			}
			col.Vectors = a.float32s()
		default:
			if !a.plainSize() || a.dtype.kind == 'f' && a.dtype.size == 1 {
				return nil, colErr(ErrUnsupported, name, -1, "2-D array of dtype %s", a.dtype.str)
			}
			if err := c.spend(4 * int64(rows) * int64(dim)); err != nil {
				return nil, withColumn(err, name, -1)
			}
			if c.lz != nil {
				return c.newLazyView(name, a, false), nil // converted in windows only
			}
			col.Vectors = make([]float32, rows*dim)
			if a.dtype.kind == 'f' && a.dtype.size == 8 && !a.dtype.big && a.contiguous() {
				for i := range col.Vectors {
					col.Vectors[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(a.raw[8*i:])))
				}
			} else {
				for i := range col.Vectors {
					f, _ := a.floatAt(i)
					col.Vectors[i] = float32(f)
				}
			}
		}
		if col.Vectors == nil {
			col.Vectors = []float32{}
		}
		return col, nil
	}
	return c.typedColumn(name, a, 0, a.len(), nil)
}
