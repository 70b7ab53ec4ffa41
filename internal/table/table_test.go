package table

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

func sample() *Table {
	return &Table{NumRows: 5, Columns: []*Column{
		{Field: Field{Name: "id", Type: TypeInt64}, Int64s: []int64{1, 2, 3, 4, 5}},
		{Field: Field{Name: "name", Type: TypeString, Nullable: true}, Strings: []string{"a", "", "c", "", "e"}, Nulls: []int{1, 3}},
		{Field: Field{Name: "emb", Type: TypeFloatVector, VectorDim: 2}, Vectors: []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
	}}
}

func TestSliceSharesVectors(t *testing.T) {
	tb := sample()
	if err := tb.Validate(); err != nil {
		t.Fatal(err)
	}
	s := tb.Slice(1, 4)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.NumRows != 3 || s.Columns[0].Int64s[0] != 2 {
		t.Fatalf("bad slice: %+v", s.Columns[0])
	}
	if got := s.Columns[1].Nulls; len(got) != 2 || got[0] != 0 || got[1] != 2 {
		t.Fatalf("nulls not rebased: %v", got)
	}
	v := s.Columns[2].Vector(0)
	if v[0] != 2 || &v[0] != &tb.Columns[2].Vectors[2] {
		t.Fatal("vector slice was copied or misplaced")
	}
}

// rawSample is sample's vectors in the RawVectors layout, row 3 null.
func rawSample() *Column {
	c := &Column{Field: Field{Name: "emb", Type: TypeFloatVector, VectorDim: 2, Nullable: true}, Nulls: []int{3}}
	for r := range 5 {
		if r == 3 {
			c.RawVectors = append(c.RawVectors, nil)
			continue
		}
		var b []byte
		for _, f := range []float32{float32(2 * r), float32(2*r + 1)} {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
		}
		c.RawVectors = append(c.RawVectors, b)
	}
	return c
}

func TestRawVectors(t *testing.T) {
	c := rawSample()
	tb := &Table{NumRows: 5, Columns: []*Column{c}}
	if err := tb.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 5 {
		t.Fatalf("Len = %d", c.Len())
	}
	if v := c.Vector(2); v[0] != 4 || v[1] != 5 {
		t.Fatalf("Vector(2) = %v", v)
	}
	if c.VectorElem(2, 1) != 5 || c.VectorElem(3, 0) != 0 || sample().Columns[2].VectorElem(3, 1) != 7 {
		t.Fatal("VectorElem: wrong element")
	}
	if v := c.AppendVector([]float32{9}, 3); len(v) != 3 || v[0] != 9 || v[1] != 0 || v[2] != 0 {
		t.Fatalf("AppendVector of a null row = %v, want zeros appended", v)
	}
	s := tb.Slice(2, 5)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if sc := s.Columns[0]; &sc.RawVectors[0][0] != &c.RawVectors[2][0] || sc.Nulls[0] != 1 {
		t.Fatal("slice copied the rows or did not rebase the nulls")
	}
	for name, breakIt := range map[string]func(c *Column){
		"short row":          func(c *Column) { c.RawVectors[0] = c.RawVectors[0][:4] },
		"null with a vector": func(c *Column) { c.RawVectors[3] = c.RawVectors[0] },
		"missing vector":     func(c *Column) { c.RawVectors[1] = nil },
		"too few rows":       func(c *Column) { c.RawVectors = c.RawVectors[:4] },
	} {
		c := rawSample()
		breakIt(c)
		if err := (&Table{NumRows: 5, Columns: []*Column{c}}).Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}

func TestNulls(t *testing.T) {
	c := sample().Columns[1]
	for i, want := range []bool{false, true, false, true, false} {
		if c.IsNull(i) != want {
			t.Errorf("IsNull(%d) = %v", i, !want)
		}
	}
	if got := c.NullsIn(2, 5); len(got) != 1 || got[0] != 3 {
		t.Errorf("NullsIn(2,5) = %v", got)
	}
	if got := c.NullsIn(4, 5); len(got) != 0 {
		t.Errorf("NullsIn(4,5) = %v", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Table)
		want string
	}{
		{"short column", func(t *Table) { t.Columns[0].Int64s = t.Columns[0].Int64s[:4] }, `"id" holds 4 values`},
		{"dup name", func(t *Table) { t.Columns[1].Name = "id" }, "duplicate column"},
		{"nulls on non-nullable", func(t *Table) { t.Columns[1].Nullable = false }, "not nullable"},
		{"null out of range", func(t *Table) { t.Columns[1].Nulls = []int{1, 9} }, "out of order or range"},
		{"null order", func(t *Table) { t.Columns[1].Nulls = []int{3, 1} }, "out of order or range"},
		{"vector dim", func(t *Table) { t.Columns[2].VectorDim = 3 }, "vector column"},
		{"bad type", func(t *Table) { t.Columns[0].Type = 42 }, "invalid type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := sample()
			tt.mod(tb)
			err := tb.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseType(t *testing.T) {
	for ty := TypeString; ty <= TypeJSON; ty++ {
		got, err := ParseType(ty.String())
		if err != nil || got != ty {
			t.Errorf("ParseType(%s) = %v, %v", ty, got, err)
		}
	}
	if _, err := ParseType("UNSPECIFIED"); err == nil {
		t.Error("UNSPECIFIED parsed")
	}
}
