package pickleload

import (
	"errors"
	"math"
	"testing"

	"github.com/embedstream/embedstream/internal/table"
)

func vecTable(rows [][]float32) *table.Table {
	c := &table.Column{Field: table.Field{Name: "embedding", Type: table.TypeFloatVector, VectorDim: len(rows[0])}}
	for _, r := range rows {
		c.Vectors = append(c.Vectors, r...)
	}
	return &table.Table{Columns: []*table.Column{c}, Rows: len(rows)}
}

func TestFiniteVectors(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))

	tb := vecTable([][]float32{{1, 2}, {nan, nan}, {3, 4}, {nan, nan}})
	in := tb.Columns[0].Vectors
	if err := finiteVectors(tb); err != nil {
		t.Fatal(err)
	}
	c := tb.Columns[0]
	if !c.Nullable || len(c.Nulls) != 2 || c.Nulls[0] != 1 || c.Nulls[1] != 3 {
		t.Fatalf("nulls = %v nullable = %v, want rows 1 and 3", c.Nulls, c.Nullable)
	}
	if c.Vectors[2] != 0 || c.Vectors[3] != 0 || c.Vectors[0] != 1 {
		t.Fatalf("vectors = %v, want null slots zeroed", c.Vectors)
	}
	if in[2] == in[2] {
		t.Fatal("the input vectors were modified in place (they may alias the file being hashed)")
	}
	if err := tb.Validate(); err != nil {
		t.Fatal(err)
	}

	for _, rows := range [][][]float32{{{1, nan}}, {{1, 2}, {inf, inf}}, {{nan, inf}}} {
		err := finiteVectors(vecTable(rows))
		var pe *Error
		if !errors.Is(err, ErrUnsupported) || !errors.As(err, &pe) || pe.Column != "embedding" {
			t.Errorf("rows %v: err = %v, want ErrUnsupported naming the column", rows, err)
		}
	}
}
