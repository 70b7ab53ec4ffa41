package pickleload

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/embedstream/embedstream/internal/table"
)

func vecTable(rows [][]float32) *table.Table {
	c := &table.Column{Field: table.Field{Name: "embedding", Type: table.TypeFloatVector, VectorDim: len(rows[0])}}
	for _, r := range rows {
		c.Vectors = append(c.Vectors, r...)
	}
	return &table.Table{Columns: []*table.Column{c}, NumRows: len(rows)}
}

// rawTable is vecTable in the RawVectors layout.
func rawTable(rows [][]float32) *table.Table {
	tb := vecTable(rows)
	c := tb.Columns[0]
	for _, r := range rows {
		var b []byte
		for _, f := range r {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
		}
		c.RawVectors = append(c.RawVectors, b)
	}
	c.Vectors = nil
	return tb
}

func TestFiniteRawVectors(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(-1))
	tb := rawTable([][]float32{{1, 2, 3}, {nan, nan, nan}, {3, 4, 5}, {nan, nan, nan}})
	row1 := tb.Columns[0].RawVectors[1]
	if err := finiteVectors(tb); err != nil {
		t.Fatal(err)
	}
	c := tb.Columns[0]
	if !c.Nullable || len(c.Nulls) != 2 || c.Nulls[0] != 1 || c.Nulls[1] != 3 {
		t.Fatalf("nulls = %v nullable = %v, want rows 1 and 3", c.Nulls, c.Nullable)
	}
	if c.RawVectors[1] != nil || c.RawVectors[3] != nil || c.Vector(2)[1] != 4 {
		t.Fatalf("want null rows nil and the others kept, got %v", c.RawVectors)
	}
	if f := math.Float32frombits(binary.LittleEndian.Uint32(row1)); f == f {
		t.Fatal("the input bytes were modified")
	}
	if err := tb.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, rows := range [][][]float32{{{1, nan, 2}}, {{1, 2, 3}, {inf, inf, inf}}, {{nan, inf, nan}}} {
		err := finiteVectors(rawTable(rows))
		var pe *Error
		if !errors.Is(err, ErrUnsupported) || !errors.As(err, &pe) || pe.Column != "embedding" || pe.Row != len(rows)-1 {
			t.Errorf("rows %v: err = %v, want ErrUnsupported naming the column and row", rows, err)
		}
	}
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

// TestAllFiniteMatchesMath checks the bit trick against math.IsNaN/IsInf
// on random bit patterns (NaNs with every payload) and specials, at every
// length that exercises the unrolled, word and tail loops.
func TestAllFiniteMatchesMath(t *testing.T) {
	specials := []float32{0, 1, -1, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, math.SmallestNonzeroFloat32, -math.MaxFloat32}
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 13; n++ {
		for trial := 0; trial < 2000; trial++ {
			v := make([]byte, 4*n)
			want := true
			for i := 0; i < n; i++ {
				var f float32
				if r.IntN(4) == 0 {
					f = specials[r.IntN(len(specials))]
				} else {
					f = math.Float32frombits(r.Uint32())
				}
				if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
					want = false
				}
				binary.LittleEndian.PutUint32(v[4*i:], math.Float32bits(f))
			}
			if got := allFinite(v); got != want {
				t.Fatalf("n=%d %x: got %v want %v", n, v, got, want)
			}
		}
	}
}
