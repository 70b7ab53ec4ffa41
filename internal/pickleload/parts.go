package pickleload

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"unsafe"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/table"
)

// Appended pickles: pickle.dump(batch, f) in a loop on a file opened with
// mode "ab" writes several pickles one after another, and pickle.load (or
// pandas.read_pickle) reads only the first. The loader reads them all and
// concatenates their tables when they hold the same columns in the same
// order, or refuses the file (see doc.go, Appended pickles). Each pickle
// is decoded as a file of its own (its own memo), with the limits of the
// whole file counted across all of them.

// usage is what the earlier pickles of a file used of its limits.
type usage struct {
	decoded int64 // the pre-pass's estimate of the decoded size
	work    int64 // conversion work
}

// morePickles reports whether data holds more than zero bytes from end
// (bytes that are all zero pad the file: nothing to read).
func morePickles(data []byte, end int) bool {
	for _, b := range data[end:] {
		if b != 0 {
			return true
		}
	}
	return false
}

// partError places err, an error of pickle num of the file (at byte start,
// after rows rows of the earlier pickles), in the file: its offset and row
// are the file's and the table's, its message names the pickle.
func partError(err error, num, start, rows, size int) error {
	var e *Error
	if start == 0 || !errors.As(err, &e) {
		return err
	}
	c := *e
	first := c.Offset == 0 && c.Kind == ErrMalformed
	if c.Offset >= 0 {
		c.Offset += int64(start)
	}
	if c.Row >= 0 {
		c.Row += rows
	}
	if first {
		c.Msg = fmt.Sprintf("the %d bytes after the pickle that ends at byte %d do not start another pickle (appended pickles are read one after another): %s", size-start, start, c.Msg)
	} else {
		c.Msg = fmt.Sprintf("pickle %d of the file (from byte %d): %s", num, start, c.Msg)
	}
	return &c
}

// partInfo describes one pickle of a file for the schema merge.
type partInfo struct {
	num, start, rows int // its number in the file (from 1), first byte, rows
	fields           []table.Field
}

// empty reports a pickle that adds nothing: no rows and no columns (an
// empty list).
func (p partInfo) empty() bool { return p.rows == 0 && len(p.fields) == 0 }

// mergeSchema returns the fields of the concatenation of parts (none
// empty): the same names in the same order in every part; a column's type
// is the parts' type when they agree, else the type inference gives all
// their values as one list, told from their types (a JSON column without a
// non-null value, and any column of a part without rows, adds none):
// INT64 and DOUBLE make DOUBLE, other mixes JSON; a FLOAT_VECTOR column
// mixed with another type or dimension is refused. allNull(k, j) reports
// whether column j of part k holds only nulls.
func mergeSchema(parts []partInfo, allNull func(k, j int) (bool, error)) ([]table.Field, error) {
	ref := parts[0]
	for _, p := range parts[1:] {
		if err := sameColumns(ref, p); err != nil {
			return nil, err
		}
	}
	out := make([]table.Field, len(ref.fields))
	for j, f0 := range ref.fields {
		same, nullable, anyRows := true, false, false
		for _, p := range parts {
			f := p.fields[j]
			same = same && f.Type == f0.Type && f.VectorDim == f0.VectorDim
			if p.rows > 0 {
				nullable, anyRows = nullable || f.Nullable, true
			}
		}
		if same {
			out[j] = f0
			if anyRows {
				out[j].Nullable = nullable
			}
			continue
		}
		inf := newColInfer()
		var vec, other *partInfo // the first parts holding vectors and another type
		for k := range parts {
			p := &parts[k]
			f := p.fields[j]
			if p.rows == 0 {
				continue
			}
			if f.Type == table.TypeJSON {
				none, err := allNull(k, j)
				if err != nil {
					return nil, err
				}
				if none {
					continue
				}
			}
			inf.seen[typeKind(f.Type)] = true
			inf.nonNull++
			if f.Type != table.TypeFloatVector {
				if other == nil {
					other = p
				}
				continue
			}
			if vec == nil {
				vec = p
			} else if f.VectorDim != vec.fields[j].VectorDim {
				return nil, colErr(ErrUnsupported, f0.Name, firstRow(parts, k), "pickle %d of the file (from byte %d) holds vectors of length %d where pickle %d's have %d: appended pickles are read as one table only when their columns agree",
					p.num, p.start, f.VectorDim, vec.num, vec.fields[j].VectorDim)
			}
		}
		typ, _ := inf.resolve()
		if vec != nil && other != nil {
			return nil, colErr(ErrUnsupported, f0.Name, -1, "column is FLOAT_VECTOR in pickle %d of the file and %s in pickle %d: appended pickles are read as one table only when their columns agree (vectors are not converted)",
				vec.num, other.fields[j].Type, other.num)
		}
		out[j] = table.Field{Name: f0.Name, Type: typ, Nullable: nullable || inf.nonNull == 0}
		if vec != nil {
			out[j].VectorDim = vec.fields[j].VectorDim
		}
	}
	return out, nil
}

// firstRow is the first row of parts[k] in the concatenation.
func firstRow(parts []partInfo, k int) int {
	n := 0
	for _, q := range parts[:k] {
		n += q.rows
	}
	return n
}

// sameColumns refuses p unless it has ref's column names in ref's order,
// naming the first difference.
func sameColumns(ref, p partInfo) error {
	a, b := ref.fields, p.fields
	for i := 0; i < max(len(a), len(b)); i++ {
		var what, col string
		switch {
		case i >= len(b):
			col, what = a[i].Name, fmt.Sprintf("it has no column %q (column %d of pickle %d)", a[i].Name, i+1, ref.num)
		case i >= len(a):
			col, what = b[i].Name, fmt.Sprintf("its column %d, %q, is not in pickle %d", i+1, b[i].Name, ref.num)
		case a[i].Name != b[i].Name:
			col, what = b[i].Name, fmt.Sprintf("its column %d is %q where pickle %d's is %q", i+1, b[i].Name, ref.num, a[i].Name)
		default:
			continue
		}
		return colErr(ErrUnsupported, col, -1, "pickle %d of the file (from byte %d) does not continue the table of pickle %d: %s; appended pickles are read as one table only when they hold the same columns in the same order",
			p.num, p.start, ref.num, what)
	}
	return nil
}

// typeKind is the inference kind of a column type's values.
func typeKind(t table.Type) valueKind {
	switch t {
	case table.TypeBool:
		return vkBool
	case table.TypeInt64:
		return vkInt
	case table.TypeDouble:
		return vkFloat
	case table.TypeString:
		return vkString
	case table.TypeTimestamp:
		return vkTime
	case table.TypeBytes:
		return vkBytes
	case table.TypeStringList:
		return vkStrList
	case table.TypeFloatVector:
		return vkNumList
	}
	return vkOther
}

// fitColumn returns col, rows values of a part's column, as a column of f
// (mergeSchema's field for it): the same values, converted (INT64 to
// DOUBLE, any type but FLOAT_VECTOR to its JSON text; a column of nulls
// only to nulls of f's type).
func fitColumn(col *table.Column, f table.Field, rows int) *table.Column {
	out := &table.Column{Field: f, ValidUTF8: true}
	if col.Type == f.Type && col.VectorDim == f.VectorDim {
		*out = *col
		out.Field = f
		return out
	}
	out.Nulls = col.Nulls
	if len(col.Nulls) == rows {
		switch f.Type {
		case table.TypeString, table.TypeJSON:
			out.Strings = make([]string, rows)
		case table.TypeInt64, table.TypeTimestamp:
			out.Int64s = make([]int64, rows)
		case table.TypeDouble:
			out.Doubles = make([]float64, rows)
		case table.TypeBool:
			out.Bools = make([]bool, rows)
		case table.TypeBytes:
			out.Bytes = make([][]byte, rows)
		case table.TypeStringList:
			out.StringLists = make([][]string, rows)
		case table.TypeFloatVector:
			out.RawVectors = make([][]byte, rows)
		}
		return out
	}
	switch f.Type {
	case table.TypeDouble: // from INT64
		out.Doubles = make([]float64, rows)
		for r, v := range col.Int64s[:rows] {
			out.Doubles[r] = float64(v)
		}
	case table.TypeJSON:
		out.Strings = make([]string, rows)
		var b []byte
		for r := range rows {
			if !col.IsNull(r) {
				b = appendCellJSON(b[:0], col, r)
				out.Strings[r] = string(b)
			}
		}
	}
	return out
}

// appendCellJSON appends row r of col as the JSON text the type inference
// writes for the value it came from.
func appendCellJSON(b []byte, col *table.Column, r int) []byte {
	switch col.Type {
	case table.TypeString:
		return canonical.AppendString(b, col.Strings[r])
	case table.TypeJSON:
		return append(b, col.Strings[r]...)
	case table.TypeInt64:
		return strconv.AppendInt(b, col.Int64s[r], 10)
	case table.TypeDouble:
		return canonical.AppendFloat(b, col.Doubles[r], 64)
	case table.TypeBool:
		return strconv.AppendBool(b, col.Bools[r])
	case table.TypeTimestamp:
		return canonical.AppendTimestamp(b, col.Int64s[r])
	case table.TypeBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, col.Bytes[r])
		return append(b, '"')
	case table.TypeStringList:
		b = append(b, '[')
		for i, s := range col.StringLists[r] {
			if i > 0 {
				b = append(b, ',')
			}
			b = canonical.AppendString(b, s)
		}
		return append(b, ']')
	}
	return append(b, "null"...) // FLOAT_VECTOR: refused by mergeSchema
}

// concatColumns concatenates cols (of field f, with rows[i] rows each).
func concatColumns(f table.Field, cols []*table.Column, rows []int) *table.Column {
	if len(cols) == 1 {
		return cols[0]
	}
	out := &table.Column{Field: f, ValidUTF8: true}
	raw := false
	for _, c := range cols {
		raw = raw || c.RawVectors != nil
	}
	base := 0
	for i, c := range cols {
		n := rows[i]
		switch f.Type {
		case table.TypeString, table.TypeJSON:
			out.Strings = append(out.Strings, c.Strings[:n]...)
		case table.TypeInt64, table.TypeTimestamp:
			out.Int64s = append(out.Int64s, c.Int64s[:n]...)
		case table.TypeDouble:
			out.Doubles = append(out.Doubles, c.Doubles[:n]...)
		case table.TypeBool:
			out.Bools = append(out.Bools, c.Bools[:n]...)
		case table.TypeBytes:
			out.Bytes = append(out.Bytes, c.Bytes[:n]...)
		case table.TypeStringList:
			out.StringLists = append(out.StringLists, c.StringLists[:n]...)
		case table.TypeFloatVector:
			d := f.VectorDim
			switch {
			case !raw:
				out.Vectors = append(out.Vectors, c.Vectors[:n*d]...)
			case c.RawVectors != nil:
				out.RawVectors = append(out.RawVectors, c.RawVectors[:n]...)
			default:
				for r := range n {
					var v []byte
					if !c.IsNull(r) {
						v = float32Bytes(c.Vectors[r*d : (r+1)*d])
					}
					out.RawVectors = append(out.RawVectors, v)
				}
			}
		}
		for _, x := range c.Nulls {
			out.Nulls = append(out.Nulls, base+x)
		}
		base += n
	}
	if f.Type == table.TypeFloatVector && !raw && out.Vectors == nil {
		out.Vectors = []float32{}
	}
	return out
}

// float32Bytes returns v as RawVectors' little-endian bytes (a view of v on
// a little-endian host).
func float32Bytes(v []float32) []byte {
	if len(v) == 0 {
		return []byte{}
	}
	if hostLittleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
	}
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// loadParts loads the pickles after the first (t, ending at end) and
// concatenates the tables.
func loadParts(data []byte, opts Options, path decodePath, t *table.Table, end int, used usage) (*table.Table, error) {
	tables := []*table.Table{t}
	infos := []partInfo{{num: 1, rows: t.NumRows, fields: t.Schema()}}
	rows := t.NumRows
	for start := end; morePickles(data, start); {
		num := len(infos) + 1
		pt, n, u, err := loadPart(data[start:], opts, path, used)
		if err != nil {
			return nil, partError(err, num, start, rows, len(data))
		}
		tables = append(tables, pt)
		infos = append(infos, partInfo{num: num, start: start, rows: pt.NumRows, fields: pt.Schema()})
		rows += pt.NumRows
		used, start = u, start+n
	}
	var keep []*table.Table
	var kinfo []partInfo
	for i, p := range infos {
		if !p.empty() {
			keep, kinfo = append(keep, tables[i]), append(kinfo, p)
		}
	}
	if len(keep) == 0 {
		return &table.Table{}, nil
	}
	fields, err := mergeSchema(kinfo, func(k, j int) (bool, error) {
		return len(keep[k].Columns[j].Nulls) == keep[k].NumRows, nil
	})
	if err != nil {
		return nil, err
	}
	out := &table.Table{NumRows: rows, Columns: make([]*table.Column, len(fields))}
	cols, counts := make([]*table.Column, len(keep)), make([]int, len(keep))
	for j, f := range fields {
		for k, pt := range keep {
			cols[k], counts[k] = fitColumn(pt.Columns[j], f, pt.NumRows), pt.NumRows
		}
		out.Columns[j] = concatColumns(f, cols, counts)
	}
	if err := out.Validate(); err != nil {
		return nil, &Error{Kind: ErrUnsupported, Offset: -1, Row: -1, Msg: "the appended pickles do not form a valid table", Err: err}
	}
	return out, nil
}

// partsSource is the Source of a file of appended pickles read by Open:
// each pickle's own Source (lazy or a table), or, for a pickle loaded
// whole when the tables held would exceed the budget, its bytes, loaded
// again when a window needs it.
type partsSource struct {
	data       []byte
	opts       Options // the file's limits
	parts      []*srcPart
	fields     []table.Field
	rows       int
	windowRows int

	mu     sync.Mutex // the last pickle loaded again
	cached *srcPart
	table  *table.Table
}

// srcPart is one pickle of a partsSource.
type srcPart struct {
	info       partInfo
	start, end int // its bytes
	row0       int
	used       usage        // what the pickles before it used of the limits
	src        table.Source // nil: loaded again on demand
}

var _ table.Source = (*partsSource)(nil)

func (s *partsSource) Schema() []table.Field { return append([]table.Field(nil), s.fields...) }
func (s *partsSource) Rows() int             { return s.rows }
func (s *partsSource) WindowRows() int       { return s.windowRows }

// Window concatenates the windows of the pickles rows [lo, hi) span,
// their columns fitted to the merged schema.
func (s *partsSource) Window(lo, hi int, cols []int) (*table.Table, error) {
	if err := checkWindow(lo, hi, s.rows, cols, len(s.fields)); err != nil {
		return nil, err
	}
	if cols == nil {
		cols = make([]int, len(s.fields))
		for i := range cols {
			cols[i] = i
		}
	}
	pieces := make([][]*table.Column, len(cols))
	var counts []int
	for _, p := range s.parts {
		plo, phi := max(lo, p.row0)-p.row0, min(hi, p.row0+p.info.rows)-p.row0
		if plo >= phi {
			continue
		}
		w, err := s.partWindow(p, plo, phi, cols)
		if err != nil {
			return nil, partError(err, p.info.num, p.start, p.row0, len(s.data))
		}
		for i, j := range cols {
			pieces[i] = append(pieces[i], fitColumn(w.Columns[i], s.fields[j], w.NumRows))
		}
		counts = append(counts, w.NumRows)
	}
	t := &table.Table{NumRows: hi - lo, Columns: make([]*table.Column, len(cols))}
	for i, j := range cols {
		t.Columns[i] = concatColumns(s.fields[j], pieces[i], counts)
	}
	if err := t.Validate(); err != nil {
		return nil, &Error{Kind: ErrUnsupported, Offset: -1, Row: -1, Msg: "the appended pickles do not form a valid table", Err: err}
	}
	return t, nil
}

// partWindow is rows [lo, hi) of pickle p.
func (s *partsSource) partWindow(p *srcPart, lo, hi int, cols []int) (*table.Table, error) {
	if p.src != nil {
		return p.src.Window(lo, hi, cols)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached != p {
		s.cached, s.table = nil, nil // one pickle held at a time
		t, _, _, err := loadPart(s.data[p.start:], s.opts, pathAuto, p.used)
		if err != nil {
			return nil, err
		}
		s.cached, s.table = p, t
	}
	return tableSource{s.table}.Window(lo, hi, cols)
}

// allNull reports whether column j of pickle p holds only nulls.
func (s *partsSource) allNull(p *srcPart, j int) (bool, error) {
	n := p.info.rows
	if p.src != nil && p.src.WindowRows() > 0 {
		n = p.src.WindowRows()
	}
	for lo := 0; lo < p.info.rows; lo += n {
		hi := min(p.info.rows, lo+n)
		w, err := s.partWindow(p, lo, hi, []int{j})
		if err != nil {
			return false, partError(err, p.info.num, p.start, p.row0, len(s.data))
		}
		if len(w.Columns[0].Nulls) < hi-lo {
			return false, nil
		}
	}
	return true, nil
}

// tableBytes is about what a loaded table holds in memory.
func tableBytes(t *table.Table) int64 {
	n := int64(0)
	for _, c := range t.Columns {
		n += 8*int64(len(c.Nulls)) + 8*int64(len(c.Int64s)+len(c.Doubles)) + int64(len(c.Bools)) + 4*int64(len(c.Vectors)) + 24*int64(len(c.RawVectors))
		for _, s := range c.Strings {
			n += 16 + int64(len(s))
		}
		for _, b := range c.Bytes {
			n += 24 + int64(len(b))
		}
		for _, l := range c.StringLists {
			n += 24
			for _, s := range l {
				n += 16 + int64(len(s))
			}
		}
	}
	return n
}

// openParts opens the pickles after the first (first, ending at end) and
// makes their concatenation's Source. Pickles loaded whole are held while
// their tables take at most half the budget, else loaded again on demand.
func openParts(data []byte, o Options, tune lazyTuning, first table.Source, end int, used usage) (table.Source, error) {
	s := &partsSource{data: data, opts: o}
	var all []*srcPart
	held, dropping := int64(0), false
	add := func(src table.Source, num, start, n int, before usage) {
		p := &srcPart{info: partInfo{num: num, start: start, rows: src.Rows(), fields: src.Schema()}, start: start, end: start + n, row0: s.rows, used: before, src: src}
		s.rows += p.info.rows
		all = append(all, p)
		ts, whole := src.(tableSource)
		switch {
		case !whole:
		case dropping:
			p.src = nil
		default:
			held += tableBytes(ts.t)
			if held > o.MemoryBudget/2 {
				dropping = true
				for _, q := range all {
					if _, ok := q.src.(tableSource); ok {
						q.src = nil
					}
				}
			}
		}
	}
	add(first, 1, 0, end, usage{})
	for start := end; morePickles(data, start); {
		num := len(all) + 1
		src, n, u, err := openPart(data[start:], o, tune, used)
		if err != nil {
			return nil, partError(err, num, start, s.rows, len(data))
		}
		add(src, num, start, n, used)
		used, start = u, start+n
	}
	for _, p := range all {
		if !p.info.empty() {
			s.parts = append(s.parts, p)
		}
	}
	if len(s.parts) == 0 {
		return tableSource{&table.Table{}}, nil
	}
	infos := make([]partInfo, len(s.parts))
	for k, p := range s.parts {
		infos[k] = p.info
	}
	var err error
	s.fields, err = mergeSchema(infos, func(k, j int) (bool, error) { return s.allNull(s.parts[k], j) })
	if err != nil {
		return nil, err
	}
	for _, p := range s.parts {
		r := 0
		if p.src != nil {
			r = p.src.WindowRows()
		} else if p.end > p.start {
			r = int(max(1, min(int64(p.info.rows), max(1<<20, o.MemoryBudget/32)*int64(p.info.rows)/int64(p.end-p.start))))
		}
		if r > 0 && (s.windowRows == 0 || r < s.windowRows) {
			s.windowRows = r
		}
	}
	return s, nil
}
