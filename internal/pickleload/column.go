package pickleload

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/table"
)

// conv carries the limits of one conversion.
type conv struct {
	opts   Options
	work   int64 // units of work left (bytes of JSON, values visited)
	inPath map[any]struct{}
	lz     *lazyConv // the lazy path's skeleton conversion, or nil
}

func newConv(opts Options) *conv {
	return &conv{opts: opts, work: opts.MaxDecodedBytes, inPath: map[any]struct{}{}}
}

// valueCost is the work charged per value walked; entryCost per dict entry
// listed (about what listing it allocates); columnCost per DataFrame
// column (a *table.Column, before any of its values).
const (
	valueCost  = 16
	entryCost  = 64
	columnCost = int64(unsafe.Sizeof(table.Column{})) + 8
)

// maxJSONIntBits: about 4300 decimal digits, CPython's int-to-str limit.
const maxJSONIntBits = 14000

// spendOn is spend for a size the pickle claims (what, e.g. "a RangeIndex
// of 2000000000 rows"): its error says what was too large.
func (c *conv) spendOn(n int64, format string, args ...any) error {
	if err := c.spend(n); err != nil {
		return newErr(ErrLimit, -1, "", "%s exceeds the conversion limit (%d)", fmt.Sprintf(format, args...), c.opts.MaxDecodedBytes)
	}
	return nil
}

func (c *conv) spend(n int64) error {
	c.work -= n
	if c.work < 0 {
		return newErr(ErrLimit, -1, "", "conversion work exceeds the limit (%d): too many shared references?", c.opts.MaxDecodedBytes)
	}
	return nil
}

// isNull reports Python None, NaN, NaT and pandas.NA.
func isNull(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case float64:
		return math.IsNaN(x)
	case float32:
		return math.IsNaN(float64(x))
	case pdNA:
		return true
	case *decimalValue:
		f, ok := x.float()
		return !ok || math.IsNaN(f)
	}
	return false
}

func decimalFloat(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, true
		}
		switch s {
		case "NaN", "-NaN", "sNaN", "-sNaN":
			return math.NaN(), true
		}
		return 0, false
	}
	return f, true
}

// valueKind classifies a non-null value for inference.
type valueKind uint8

const (
	vkOther valueKind = iota
	vkBool
	vkInt
	vkBigInt // beyond int64
	vkFloat
	vkString
	vkTime
	vkBytes
	vkStrList
	vkNumList // a float array or a list of numbers
	vkEmptyList
)

func kindOf(v any) valueKind {
	switch x := v.(type) {
	case bool:
		return vkBool
	case int, int64:
		return vkInt
	case uint64:
		return vkBigInt
	case *big.Int:
		if x.IsInt64() {
			return vkInt
		}
		return vkBigInt
	case float64, float32, *decimalValue:
		return vkFloat
	case string:
		return vkString
	case *timeValue, *dateValue:
		return vkTime
	case []byte, *types.ByteArray:
		return vkBytes
	case *ndarray:
		if len(x.shape) == 1 && (x.dtype.kind == 'f' || x.dtype.kind == 'i' || x.dtype.kind == 'u') {
			return vkNumList
		}
		if x.lazy != nil {
			x.lazy.misused = true
		}
		if len(x.shape) == 1 && x.dtype.kind == 'O' {
			return listKind(x.objs)
		}
		if len(x.shape) == 1 && x.dtype.kind == 'U' {
			return vkStrList
		}
	case *types.List:
		return listKind(*x)
	case *types.Tuple:
		return listKind(*x)
	case *vmList:
		if !x.boxed {
			if len(x.floats) == 0 {
				return vkEmptyList
			}
			return vkNumList
		}
		return listKind(x.items)
	case *pyObject:
		if a, ok, _ := asArray(x); ok && a != nil {
			return kindOf(a)
		}
	case *lazySeq:
		x.misused = true
	}
	return vkOther
}

func listKind(items []any) valueKind {
	if len(items) == 0 {
		return vkEmptyList
	}
	allStr, allNum := true, true
	for _, it := range items {
		switch it.(type) {
		case string:
			allNum = false
		case int, int64, float64, float32:
			allStr = false
		case *big.Int:
			allStr = false
		default:
			return vkOther
		}
		if !allStr && !allNum {
			return vkOther
		}
	}
	if allStr {
		return vkStrList
	}
	return vkNumList
}

// buildColumn infers the type of vals (one per row) and builds the column.
func (c *conv) buildColumn(name string, vals []any) (*table.Column, error) {
	var inf colInfer
	if err := c.inferCells(&inf, name, vals, 0, false); err != nil {
		return nil, err
	}
	typ, bigInts := inf.resolve()
	if bigInts {
		for i, v := range vals {
			if kindOf(v) == vkBigInt {
				return nil, colErr(ErrUnsupported, name, i, "integer outside the int64 range")
			}
		}
	}
	return c.buildTyped(name, vals, typ, -1, inf.nonNull == 0)
}

// buildTyped builds a column of type typ from vals (normalised by
// inferCells). dim is the vector length of a FLOAT_VECTOR column, or -1 to
// take it from the values; allNull says that no value is non-null (such a
// column is nullable).
func (c *conv) buildTyped(name string, vals []any, typ table.Type, dim int, allNull bool) (*table.Column, error) {
	col := &table.Column{Field: table.Field{Name: name}}
	col.Type = typ
	rows := len(vals)
	if typ != table.TypeFloatVector {
		// the column's cells (vectors are charged by vectorColumn): a
		// memoized list read by many columns costs one cell per read
		if err := c.spend(int64(rows) * 8); err != nil {
			return nil, withColumn(err, name, -1)
		}
	}
	switch typ {
	case table.TypeBool:
		col.Bools = make([]bool, rows)
	case table.TypeInt64, table.TypeTimestamp:
		col.Int64s = make([]int64, rows)
	case table.TypeDouble:
		col.Doubles = make([]float64, rows)
	case table.TypeString, table.TypeJSON:
		col.Strings = make([]string, rows)
	case table.TypeBytes:
		col.Bytes = make([][]byte, rows)
	case table.TypeStringList:
		col.StringLists = make([][]string, rows)
	case table.TypeFloatVector:
		return c.vectorColumn(col, vals, dim)
	}
	var buf []byte
	for i, v := range vals {
		if isNull(v) {
			col.Nulls = append(col.Nulls, i)
			continue
		}
		switch typ {
		case table.TypeBool:
			col.Bools[i] = v.(bool)
		case table.TypeInt64:
			n, _ := toInt64(v)
			if x, ok := v.(int64); ok {
				n = x
			}
			col.Int64s[i] = n
		case table.TypeTimestamp:
			switch t := v.(type) {
			case *timeValue:
				col.Int64s[i] = t.us
			case *dateValue:
				col.Int64s[i] = t.us
			}
		case table.TypeDouble:
			f := toFloat(v)
			if math.IsInf(f, 0) && kindOf(v) == vkBigInt {
				return nil, colErr(ErrUnsupported, name, i, "integer too large for a float64")
			}
			if math.IsInf(f, 0) || math.IsNaN(f) {
				col.Nulls = append(col.Nulls, i)
				continue
			}
			col.Doubles[i] = f
		case table.TypeString:
			col.Strings[i] = v.(string)
			if err := c.spend(int64(len(col.Strings[i]))); err != nil {
				return nil, withColumn(err, name, i)
			}
		case table.TypeBytes:
			b, _ := bytesArg(v)
			col.Bytes[i] = b
			if err := c.spend(int64(len(b))); err != nil {
				return nil, withColumn(err, name, i)
			}
		case table.TypeStringList:
			col.StringLists[i] = toStrings(v)
			for _, s := range col.StringLists[i] {
				if err := c.spend(int64(len(s)) + valueCost); err != nil {
					return nil, withColumn(err, name, i)
				}
			}
		case table.TypeJSON:
			var err error
			buf, err = c.appendJSON(buf[:0], v, 0)
			if err != nil {
				return nil, withColumn(err, name, i)
			}
			if err := c.spend(int64(len(buf))); err != nil {
				return nil, withColumn(err, name, i)
			}
			col.Strings[i] = string(buf)
		}
	}
	col.Nullable = len(col.Nulls) > 0
	if allNull {
		col.Nullable = true
	}
	return col, nil
}

// checkCell refuses cell values the loader cannot represent.
func checkCell(v any) error {
	switch x := v.(type) {
	case *pyObject:
		if x.inert {
			return newErr(ErrUnsupported, -1, "", "unsupported value of type %s (pyarrow)", x.qualname())
		}
	case unsupportedUnit:
		return newErr(ErrUnsupported, -1, "", "unsupported datetime unit %q", string(x))
	case timeOverflow:
		return newErr(ErrMalformed, -1, "", "datetime64/timedelta64 value out of range")
	case badElem:
		return newErr(ErrUnsupported, -1, "", "unsupported numpy element type")
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case *big.Int:
		f, _ := new(big.Float).SetInt(x).Float64()
		return f
	case float64:
		return x
	case float32:
		return float64(x)
	case *decimalValue:
		f, _ := x.float()
		return f
	}
	return math.NaN()
}

func toStrings(v any) []string {
	var items []any
	switch x := v.(type) {
	case *types.List:
		items = *x
	case *types.Tuple:
		items = *x
	case *vmList:
		items = x.items
	case *ndarray:
		out := make([]string, x.len())
		for i := range out {
			out[i], _ = x.at(i).(string)
		}
		return out
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i], _ = it.(string)
	}
	return out
}

// vectorColumn builds a FLOAT_VECTOR column; every non-null row must have
// the same length: dim when it is >= 0, else the first non-null row's.
func (c *conv) vectorColumn(col *table.Column, vals []any, dim int) (*table.Column, error) {
	for i, v := range vals {
		if isNull(v) {
			continue
		}
		n := vecLen(v)
		if dim < 0 {
			dim = n
		} else if n != dim {
			return nil, colErr(ErrUnsupported, col.Name, i, "vector of length %d where earlier rows have %d", n, dim)
		}
	}
	if dim == 0 {
		return nil, colErr(ErrUnsupported, col.Name, -1, "vectors of length 0")
	}
	col.VectorDim = dim
	// The budget counts the decoded size even where rows alias the input:
	// rows sharing one memoized array would otherwise be free here and
	// multiply on the wire.
	if err := c.spend(4 * int64(len(vals)) * int64(dim)); err != nil {
		return nil, withColumn(err, col.Name, -1)
	}
	if rawVectors(vals, dim) {
		// Every row is a little-endian float32 array: keep its bytes
		// where they are (in the input), one slice header per row.
		col.RawVectors = make([][]byte, len(vals))
		for i, v := range vals {
			if isNull(v) {
				col.Nulls = append(col.Nulls, i)
				continue
			}
			raw := v.(*ndarray).raw
			col.RawVectors[i] = raw[: 4*dim : 4*dim]
		}
		col.Nullable = len(col.Nulls) > 0
		return col, nil
	}
	col.Vectors = make([]float32, len(vals)*dim)
	for i, v := range vals {
		if isNull(v) {
			col.Nulls = append(col.Nulls, i)
			continue
		}
		fillVector(col.Vectors[i*dim:(i+1)*dim], v)
	}
	col.Nullable = len(col.Nulls) > 0
	return col, nil
}

// fillVector writes the elements of the vector value v (vecLen(v) ==
// len(dst)) into dst as float32s.
func fillVector(dst []float32, v any) {
	switch x := v.(type) {
	case *ndarray:
		switch {
		case x.dtype.kind == 'f' && x.dtype.size == 4:
			x.copyFloat32s(dst)
		case x.dtype.kind == 'O':
			for j := range dst {
				dst[j] = float32(toFloat(numeric(x.at(j))))
			}
		default:
			for j := range dst {
				f, _ := x.floatAt(j)
				dst[j] = float32(f)
			}
		}
	case *types.List:
		for j, it := range *x {
			dst[j] = float32(toFloat(it))
		}
	case *types.Tuple:
		for j, it := range *x {
			dst[j] = float32(toFloat(it))
		}
	case *vmList:
		if !x.boxed {
			for j, f := range x.floats {
				dst[j] = float32(f)
			}
		} else {
			for j, it := range x.items {
				dst[j] = float32(toFloat(it))
			}
		}
	}
}

// rawVectors reports whether every non-null value in vals is a float32
// numpy array of dim elements whose bytes are already the little-endian,
// row-major layout of table.Column.RawVectors (as pandas columns of
// embeddings are), and there is at least one.
func rawVectors(vals []any, dim int) bool {
	found := false
	for _, v := range vals {
		if isNull(v) {
			continue
		}
		a, ok := v.(*ndarray)
		if !ok || a.dtype.kind != 'f' || a.dtype.size != 4 || a.dtype.big ||
			(a.fortran && len(a.shape) >= 2) || a.len() != dim || len(a.raw) < 4*dim {
			return false
		}
		found = true
	}
	return found
}

func numeric(v any) any {
	switch x := v.(type) {
	case bool:
		if x {
			return 1
		}
		return 0
	}
	return v
}

func vecLen(v any) int {
	switch x := v.(type) {
	case *ndarray:
		return x.len()
	case *types.List:
		return len(*x)
	case *types.Tuple:
		return len(*x)
	case *vmList:
		return x.len()
	}
	touch(v)
	return -1
}

// withColumn adds the column and row to an *Error that lacks them.
func withColumn(err error, name string, row int) error {
	if e, ok := err.(*Error); ok {
		if e.Column == "" {
			e.Column = strings.Clone(name) // see colErr
		}
		if e.Row < 0 {
			e.Row = row
		}
		return e
	}
	return &Error{Kind: ErrMalformed, Offset: -1, Column: strings.Clone(name), Row: row, Msg: "bad value", Err: err}
}

// appendJSON appends v as compact JSON (canonical number and string forms).
func (c *conv) appendJSON(b []byte, v any, depth int) ([]byte, error) {
	if depth > c.opts.MaxDepth {
		return b, newErr(ErrLimit, -1, "", "value nested deeper than %d", c.opts.MaxDepth)
	}
	if err := c.spend(valueCost); err != nil {
		return b, err
	}
	if int64(len(b)) > c.work {
		return b, newErr(ErrLimit, -1, "", "JSON text exceeds the conversion limit (%d): too many shared references?", c.opts.MaxDecodedBytes)
	}
	if isNull(v) {
		return append(b, "null"...), nil
	}
	switch x := v.(type) {
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case *big.Int:
		if x.BitLen() > maxJSONIntBits {
			return b, newErr(ErrUnsupported, -1, "", "integer of %d bits in JSON (CPython prints at most 4300 digits)", x.BitLen())
		}
		return x.Append(b, 10), nil
	case float64:
		return canonical.AppendFloat(b, x, 64), nil
	case float32:
		return canonical.AppendFloat(b, float64(x), 32), nil
	case *decimalValue:
		return canonical.AppendFloat(b, toFloat(x), 64), nil
	case string:
		return canonical.AppendString(b, x), nil
	case []byte:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, x)
		return append(b, '"'), nil
	case *types.ByteArray:
		return c.appendJSON(b, []byte(*x), depth)
	case *timeValue:
		return canonical.AppendTimestamp(b, x.us), nil
	case *dateValue:
		return canonical.AppendTimestamp(b, x.us), nil
	case *durationValue:
		return canonical.AppendFloat(b, float64(x.us)/1e6, 64), nil
	case *timeOfDay:
		return canonical.AppendString(b, x.text), nil
	case *tzValue:
		return canonical.AppendString(b, x.loc.String()), nil
	case *types.List:
		return c.appendList(b, x, *x, depth)
	case *types.Tuple:
		return c.appendList(b, x, *x, depth)
	case *vmList:
		if !x.boxed {
			if err := c.spend(int64(len(x.floats)) * valueCost); err != nil {
				return b, err
			}
			b = append(b, '[')
			for i, f := range x.floats {
				if i > 0 {
					b = append(b, ',')
				}
				b = canonical.AppendFloat(b, f, 64)
			}
			return append(b, ']'), nil
		}
		return c.appendList(b, x, x.items, depth)
	case *types.Dict:
		if err := c.enter(x); err != nil {
			return b, err
		}
		defer c.leave(x)
		if err := c.spend(int64(len(*x)) * entryCost); err != nil {
			return b, err
		}
		return c.appendObject(b, dictEntries(x), depth)
	case *types.OrderedDict:
		if err := c.enter(x); err != nil {
			return b, err
		}
		defer c.leave(x)
		return c.appendObject(b, orderedEntries(x), depth)
	case *ndarray:
		return c.appendArray(b, x, depth)
	case *pyObject:
		if a, ok, err := asArray(x); err != nil {
			return b, err
		} else if ok {
			return c.appendArray(b, a, depth)
		}
		if err := checkCell(x); err != nil {
			return b, err
		}
		if err := c.enter(x); err != nil {
			return b, err
		}
		defer c.leave(x)
		fields, err := objectFields(x)
		if err != nil {
			return b, err
		}
		return c.appendObject(b, fields, depth)
	case complexValue:
		return b, newErr(ErrUnsupported, -1, "", "complex numbers")
	case *lazySeq:
		x.misused = true
	}
	if err := checkCell(v); err != nil {
		return b, err
	}
	return b, newErr(ErrUnsupported, -1, "", "value of type %s", typeName(v))
}

func (c *conv) enter(p any) error {
	if _, ok := c.inPath[p]; ok {
		return newErr(ErrUnsupported, -1, "", "self-referencing value (a cycle)")
	}
	c.inPath[p] = struct{}{}
	return nil
}

func (c *conv) leave(p any) { delete(c.inPath, p) }

func (c *conv) appendList(b []byte, id any, items []any, depth int) ([]byte, error) {
	if err := c.enter(id); err != nil {
		return b, err
	}
	defer c.leave(id)
	b = append(b, '[')
	var err error
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = c.appendJSON(b, it, depth+1); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

func (c *conv) appendArray(b []byte, a *ndarray, depth int) ([]byte, error) {
	if len(a.shape) == 0 {
		return c.appendJSON(b, a.at(0), depth+1)
	}
	rows, cols := a.shape[0], 1
	if len(a.shape) == 2 {
		cols = a.shape[1]
	}
	var err error
	b = append(b, '[')
	for r := 0; r < rows; r++ {
		if r > 0 {
			b = append(b, ',')
		}
		if len(a.shape) == 2 {
			b = append(b, '[')
		}
		for j := 0; j < cols; j++ {
			if j > 0 {
				b = append(b, ',')
			}
			if b, err = c.appendJSON(b, a.at(r*cols+j), depth+1); err != nil {
				return b, err
			}
		}
		if len(a.shape) == 2 {
			b = append(b, ']')
		}
	}
	return append(b, ']'), nil
}

type entry struct {
	key   any
	value any
}

// dictEntries lists a dict's entries; a key set twice (SETITEM twice, or
// keys Python deems equal: 1, 1.0 and True) keeps its first position and
// its last value, as in Python.
func dictEntries(d *types.Dict) []entry {
	out := make([]entry, 0, len(*d))
	if len(*d) <= 32 {
	next:
		for _, e := range *d {
			k := keyOf(e.Key)
			for i := range out {
				if keyOf(out[i].key) == k {
					out[i].value = e.Value
					continue next
				}
			}
			out = append(out, entry{e.Key, e.Value})
		}
		return out
	}
	seen := make(map[pyKey]int, len(*d))
	for _, e := range *d {
		k := keyOf(e.Key)
		if i, ok := seen[k]; ok {
			out[i].value = e.Value
			continue
		}
		seen[k] = len(out)
		out = append(out, entry{e.Key, e.Value})
	}
	return out
}

// pyKey identifies a dict key by Python equality, as far as the loader's
// keys go: 1, 1.0 and True are one key; 1 and "1" are two. Tuples and
// other keys are told apart by their str().
type pyKey struct {
	kind byte   // 'n' integral number, 'f' other float, 's' str, 'b' bytes, 'o' other
	n    uint64 // the int64 of 'n', the float64 bits of 'f'
	s    string
}

func keyOf(k any) pyKey {
	switch x := k.(type) {
	case string:
		return pyKey{kind: 's', s: x}
	case bool:
		return pyKey{kind: 'n', n: uint64(btoi(x))}
	case int:
		return pyKey{kind: 'n', n: uint64(x)}
	case int64:
		return pyKey{kind: 'n', n: uint64(x)}
	case float64:
		return floatKey(x)
	case float32:
		return floatKey(float64(x))
	case []byte:
		return pyKey{kind: 'b', s: string(x)}
	case *big.Int:
		if x.IsInt64() {
			return pyKey{kind: 'n', n: uint64(x.Int64())}
		}
	}
	return pyKey{kind: 'o', s: typeName(k) + ":" + keyName(k)}
}

func floatKey(f float64) pyKey {
	if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
		return pyKey{kind: 'n', n: uint64(int64(f))}
	}
	return pyKey{kind: 'f', n: math.Float64bits(f)}
}

func orderedEntries(d *types.OrderedDict) []entry {
	out := make([]entry, 0, d.Len())
	for el := d.List.Front(); el != nil; el = el.Next() {
		e := el.Value.(*types.OrderedDictEntry)
		out = append(out, entry{e.Key, e.Value})
	}
	return out
}

func (c *conv) appendObject(b []byte, entries []entry, depth int) ([]byte, error) {
	var err error
	b = append(b, '{')
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		if err := checkKey(e.key); err != nil {
			return b, err
		}
		b = canonical.AppendString(b, keyName(e.key))
		b = append(b, ':')
		if b, err = c.appendJSON(b, e.value, depth+1); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// keyName is Python's str() of a dict key or column label.
func keyName(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case *big.Int:
		return x.String()
	case float64:
		return pyFloatRepr(x)
	case float32:
		return pyFloatRepr(float64(x))
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		var b strings.Builder // not text: Python's str() of bytes, b'\xff'
		appendPyRepr(&b, string(x), "b")
		return b.String()
	case *types.Tuple:
		if keyTooBig(x) {
			return "(...)" // refused by checkKey; never walked
		}
		var b strings.Builder
		b.WriteByte('(')
		for i, it := range *x {
			if i > 0 {
				b.WriteString(", ")
			}
			switch v := it.(type) {
			case string:
				appendPyRepr(&b, v, "")
			case []byte:
				appendPyRepr(&b, string(v), "b")
			default:
				b.WriteString(keyName(it))
			}
		}
		if len(*x) == 1 {
			b.WriteByte(',')
		}
		b.WriteByte(')')
		return b.String()
	case *timeValue:
		return string(canonical.AppendTimestamp(nil, x.us))
	}
	return typeName(k)
}

// appendPyRepr writes Python's repr() of a str (prefix "") or of bytes
// (prefix "b", s holding the bytes): single quotes unless s holds ' and no
// ", backslash escapes for the quote, backslash, \t \n \r and characters
// that are not printable.
func appendPyRepr(b *strings.Builder, s, prefix string) {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	b.WriteString(prefix)
	b.WriteByte(quote)
	hex := func(format string, n int) {
		fmt.Fprintf(b, format, n)
	}
	if prefix == "b" {
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c == quote || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\t':
				b.WriteString(`\t`)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c < 0x20 || c >= 0x7f:
				hex(`\x%02x`, int(c))
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte(quote)
		return
	}
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case unicode.IsPrint(r):
			b.WriteRune(r)
		case r < 0x100:
			hex(`\x%02x`, int(r))
		case r < 0x10000:
			hex(`\u%04x`, int(r))
		default:
			hex(`\U%08x`, int(r))
		}
	}
	b.WriteByte(quote)
}

func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e16 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// objectFields returns the fields of an instance of a user class: its
// __dict__ (pydantic v1/v2 keep it under "__dict__"; pydantic v2's extra
// fields are added) and __slots__ state.
func objectFields(o *pyObject) ([]entry, error) {
	var out []entry
	add := func(st any) {
		switch d := st.(type) {
		case *types.Dict:
			if inner, ok := d.Get("__dict__"); ok {
				if id, ok := inner.(*types.Dict); ok {
					out = append(out, dictEntries(id)...)
					if extra, ok := d.Get("__pydantic_extra__"); ok {
						if ed, ok := extra.(*types.Dict); ok {
							out = append(out, dictEntries(ed)...)
						}
					}
					return
				}
			}
			out = append(out, dictEntries(d)...)
		case *types.OrderedDict:
			out = append(out, orderedEntries(d)...)
		}
	}
	switch st := o.state.(type) {
	case *types.Tuple:
		for _, part := range *st {
			add(part)
		}
	case nil:
		if len(o.args) == 1 {
			add(o.args[0]) // a dict subclass rebuilt by copyreg._reconstructor
		}
	default:
		add(st)
		if _, ok := st.(*types.Dict); !ok {
			if _, ok := st.(*types.OrderedDict); !ok {
				return nil, newErr(ErrUnsupported, -1, "", "object of class %s with a %s state", o.qualname(), typeName(st))
			}
		}
	}
	if o.module == "pandas" || len(o.module) > 7 && o.module[:7] == "pandas." || len(o.module) >= 5 && o.module[:5] == "numpy" || isJoblib(o.module) {
		return nil, newErr(ErrUnsupported, -1, "", "value of type %s", o.qualname())
	}
	return out, nil
}

// Tuple keys are bounded: nested at most maxKeyDepth deep, at most
// maxKeyItems items in all (memo reads can describe 2^40 leaves in a few
// hundred bytes; TUPLE1 nests without MARK, so MaxDepth does not apply).
const (
	maxKeyDepth = 32
	maxKeyItems = 4096
)

// keyTooBig reports whether a tuple key exceeds the bounds, visiting at
// most maxKeyItems items.
func keyTooBig(k any) bool {
	n := 0
	var fits func(v any, depth int) bool
	fits = func(v any, depth int) bool {
		t, ok := v.(*types.Tuple)
		if !ok {
			return true
		}
		if depth >= maxKeyDepth {
			return false
		}
		for _, it := range *t {
			if n++; n > maxKeyItems || !fits(it, depth+1) {
				return false
			}
		}
		return true
	}
	return !fits(k, 0)
}

// checkKey refuses dict keys Python could not have hashed, and tuple keys
// beyond the bounds above.
func checkKey(k any) error {
	if _, ok := k.(*types.Tuple); ok && keyTooBig(k) {
		return newErr(ErrLimit, -1, "", "dict key: tuple nested deeper than %d or holding more than %d items", maxKeyDepth, maxKeyItems)
	}
	return checkKeyItems(k)
}

func checkKeyItems(k any) error {
	touch(k)
	switch x := k.(type) {
	case *types.List, *vmList, *types.Dict, *types.OrderedDict, *types.ByteArray, *ndarray:
		return newErr(ErrMalformed, -1, "", "unhashable dict key of type %s", typeName(k))
	case *types.Tuple:
		for _, it := range *x {
			if err := checkKeyItems(it); err != nil {
				return err
			}
		}
	case *big.Int:
		if x.BitLen() > maxJSONIntBits {
			return newErr(ErrUnsupported, -1, "", "dict key: integer of %d bits", x.BitLen())
		}
	}
	return nil
}
