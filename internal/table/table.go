package table

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
)

// Type is the value type of a column. Its values equal the wire contract's
// FieldType enum, so a conversion is a cast.
type Type int32

// The column types; the comments say which Column slice carries each.
const (
	TypeUnspecified Type = 0
	TypeString      Type = 1 // Strings
	TypeInt64       Type = 2 // Int64s
	TypeDouble      Type = 3 // Doubles; never NaN or ±Inf (those are nulls)
	TypeBool        Type = 4 // Bools
	TypeTimestamp   Type = 5 // Int64s: microseconds since the Unix epoch, UTC
	TypeBytes       Type = 6 // Bytes
	TypeFloatVector Type = 7 // Vectors: rows*VectorDim float32, row-major; or RawVectors
	TypeStringList  Type = 8 // StringLists
	TypeJSON        Type = 9 // Strings: compact JSON text of each value
)

var typeNames = [...]string{"UNSPECIFIED", "STRING", "INT64", "DOUBLE", "BOOL", "TIMESTAMP", "BYTES", "FLOAT_VECTOR", "STRING_LIST", "JSON"}

// String returns the contract's short name of t, e.g. "FLOAT_VECTOR".
func (t Type) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", int32(t))
}

// ParseType returns the Type named s ("STRING", "INT64", ...; as [Type.String]
// prints it), or an error.
func ParseType(s string) (Type, error) {
	for i, n := range typeNames {
		if i > 0 && n == s {
			return Type(i), nil
		}
	}
	return TypeUnspecified, fmt.Errorf("unknown field type %q (want one of STRING, INT64, DOUBLE, BOOL, TIMESTAMP, BYTES, FLOAT_VECTOR, STRING_LIST, JSON)", s)
}

// Field describes one column.
type Field struct {
	Name      string
	Type      Type
	Nullable  bool
	VectorDim int // FLOAT_VECTOR only
}

// Column is one field's values. Exactly one of the value slices is used, as
// [Type] says; it holds one value per row (FLOAT_VECTOR: VectorDim per row).
type Column struct {
	Field

	Strings     []string   // STRING, JSON
	Int64s      []int64    // INT64, TIMESTAMP
	Doubles     []float64  // DOUBLE
	Bools       []bool     // BOOL
	Bytes       [][]byte   // BYTES
	Vectors     []float32  // FLOAT_VECTOR, unless RawVectors is set
	StringLists [][]string // STRING_LIST

	// RawVectors is FLOAT_VECTOR's second layout, used instead of Vectors
	// when it is not nil: one entry per row, each the row's VectorDim
	// float32s as little-endian IEEE 754 bytes (4*VectorDim bytes, the wire
	// format's packed encoding), or nil for a null row. A loader uses it to
	// keep the vectors of a pandas column of arrays where they sit in the
	// file, instead of copying them into one matrix.
	RawVectors [][]byte

	// Nulls lists the null rows, strictly ascending. Their value slots hold
	// zero values. Nullable must be true when Nulls is not empty.
	Nulls []int

	// ValidUTF8 records that whoever built the column has checked every
	// string in Strings and StringLists to be valid UTF-8 (pickleload
	// does), so that consumers which require it, such as the wire encoder,
	// need not check again. False means unknown, not invalid. Code that
	// changes the strings of a column must clear it unless it checks them.
	ValidUTF8 bool
}

// Table is a dataset held whole in memory: columns in schema order, each of
// NumRows values. It is the [Source] of such a dataset.
type Table struct {
	Columns []*Column
	NumRows int
}

// Schema returns the fields of t in column order.
func (t *Table) Schema() []Field {
	fs := make([]Field, len(t.Columns))
	for i, c := range t.Columns {
		fs[i] = c.Field
	}
	return fs
}

// Column returns the column named name, or nil.
func (t *Table) Column(name string) *Column {
	for _, c := range t.Columns {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Len returns the number of values the column holds (rows, not floats, for
// vectors).
func (c *Column) Len() int {
	switch c.Type {
	case TypeString, TypeJSON:
		return len(c.Strings)
	case TypeInt64, TypeTimestamp:
		return len(c.Int64s)
	case TypeDouble:
		return len(c.Doubles)
	case TypeBool:
		return len(c.Bools)
	case TypeBytes:
		return len(c.Bytes)
	case TypeFloatVector:
		if c.RawVectors != nil {
			return len(c.RawVectors)
		}
		if c.VectorDim <= 0 {
			return 0
		}
		return len(c.Vectors) / c.VectorDim
	case TypeStringList:
		return len(c.StringLists)
	}
	return 0
}

// IsNull reports whether row i is null.
func (c *Column) IsNull(i int) bool {
	if len(c.Nulls) == 0 {
		return false
	}
	k := sort.SearchInts(c.Nulls, i)
	return k < len(c.Nulls) && c.Nulls[k] == i
}

// NullsIn returns the null rows in [lo, hi) as a subslice of c.Nulls (not a
// copy; the indices are still relative to the whole column).
func (c *Column) NullsIn(lo, hi int) []int {
	if len(c.Nulls) == 0 {
		return nil
	}
	a := sort.SearchInts(c.Nulls, lo)
	b := a + sort.SearchInts(c.Nulls[a:], hi)
	return c.Nulls[a:b]
}

// Vector returns row i's vector: a subslice of c.Vectors, or a new slice
// decoded from c.RawVectors (all zeros for a null row). Loops over many rows
// use [Column.AppendVector] to decode into a reused slice.
func (c *Column) Vector(i int) []float32 {
	if c.RawVectors == nil {
		return c.Vectors[i*c.VectorDim : (i+1)*c.VectorDim]
	}
	return c.AppendVector(make([]float32, 0, c.VectorDim), i)
}

// VectorElem returns element j of row i's vector, in either layout (0 for
// a null row of RawVectors).
func (c *Column) VectorElem(i, j int) float32 {
	if c.RawVectors == nil {
		return c.Vectors[i*c.VectorDim+j]
	}
	if raw := c.RawVectors[i]; raw != nil {
		return math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
	}
	return 0
}

// AppendVector appends row i's VectorDim floats to dst and returns the
// extended slice.
func (c *Column) AppendVector(dst []float32, i int) []float32 {
	if c.RawVectors == nil {
		return append(dst, c.Vectors[i*c.VectorDim:(i+1)*c.VectorDim]...)
	}
	raw := c.RawVectors[i]
	if raw == nil {
		return append(dst, make([]float32, c.VectorDim)...)
	}
	for j := 0; j+4 <= len(raw); j += 4 {
		dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(raw[j:])))
	}
	return dst
}

// Slice returns a column holding rows [lo, hi) of c. Value slices are
// subslices of c's (vectors are never copied); only the null indices are
// rebased into a new slice.
func (c *Column) Slice(lo, hi int) *Column {
	s := &Column{Field: c.Field}
	switch c.Type {
	case TypeString, TypeJSON:
		s.Strings = c.Strings[lo:hi]
	case TypeInt64, TypeTimestamp:
		s.Int64s = c.Int64s[lo:hi]
	case TypeDouble:
		s.Doubles = c.Doubles[lo:hi]
	case TypeBool:
		s.Bools = c.Bools[lo:hi]
	case TypeBytes:
		s.Bytes = c.Bytes[lo:hi]
	case TypeFloatVector:
		if c.RawVectors != nil {
			s.RawVectors = c.RawVectors[lo:hi]
		} else {
			s.Vectors = c.Vectors[lo*c.VectorDim : hi*c.VectorDim]
		}
	case TypeStringList:
		s.StringLists = c.StringLists[lo:hi]
	}
	if ns := c.NullsIn(lo, hi); len(ns) > 0 {
		s.Nulls = make([]int, len(ns))
		for i, n := range ns {
			s.Nulls[i] = n - lo
		}
	}
	return s
}

// Slice returns a table holding rows [lo, hi) of t; see [Column.Slice].
func (t *Table) Slice(lo, hi int) *Table {
	s := &Table{Columns: make([]*Column, len(t.Columns)), NumRows: hi - lo}
	for i, c := range t.Columns {
		s.Columns[i] = c.Slice(lo, hi)
	}
	return s
}

// Validate checks the table's invariants: unique non-empty names, known types,
// every column holding NumRows values, vector dimensions set, null indices
// ascending, in range and only on nullable columns.
func (t *Table) Validate() error {
	seen := make(map[string]bool, len(t.Columns))
	for _, c := range t.Columns {
		if c.Name == "" {
			return fmt.Errorf("table: a column has an empty name")
		}
		if seen[c.Name] {
			return fmt.Errorf("table: duplicate column name %q", c.Name)
		}
		seen[c.Name] = true
		if c.Type <= TypeUnspecified || c.Type > TypeJSON {
			return fmt.Errorf("table: column %q has invalid type %s", c.Name, c.Type)
		}
		if c.Type == TypeFloatVector {
			if c.VectorDim <= 0 {
				return fmt.Errorf("table: vector column %q has dimension %d", c.Name, c.VectorDim)
			}
			if c.RawVectors == nil && len(c.Vectors) != t.NumRows*c.VectorDim {
				return fmt.Errorf("table: vector column %q holds %d floats, want %d rows x %d", c.Name, len(c.Vectors), t.NumRows, c.VectorDim)
			}
		} else if n := c.Len(); n != t.NumRows {
			return fmt.Errorf("table: column %q holds %d values, want %d", c.Name, n, t.NumRows)
		}
		if len(c.Nulls) > 0 && !c.Nullable {
			return fmt.Errorf("table: column %q has nulls but is not nullable", c.Name)
		}
		prev := -1
		for _, n := range c.Nulls {
			if n <= prev || n >= t.NumRows {
				return fmt.Errorf("table: column %q: null index %d out of order or range", c.Name, n)
			}
			prev = n
		}
		if c.Type == TypeFloatVector && c.RawVectors != nil {
			if err := c.validateRaw(t.NumRows); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateRaw checks RawVectors: rows entries, each 4*VectorDim bytes, nil
// exactly on null rows.
func (c *Column) validateRaw(rows int) error {
	if len(c.RawVectors) != rows {
		return fmt.Errorf("table: vector column %q holds %d rows, want %d", c.Name, len(c.RawVectors), rows)
	}
	want := 4 * c.VectorDim
	nulls := c.Nulls
	for i, v := range c.RawVectors {
		null := len(nulls) > 0 && nulls[0] == i
		if null {
			nulls = nulls[1:]
		}
		switch {
		case v == nil && !null:
			return fmt.Errorf("table: vector column %q row %d has no vector but is not null", c.Name, i)
		case v != nil && null:
			return fmt.Errorf("table: vector column %q row %d is null but has a vector", c.Name, i)
		case v != nil && len(v) != want:
			return fmt.Errorf("table: vector column %q row %d holds %d bytes, want %d (dimension %d)", c.Name, i, len(v), want, c.VectorDim)
		}
	}
	return nil
}
