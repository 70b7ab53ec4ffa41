package pickleload

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"
)

// A tiny protocol-2 pickle assembler for the generated benchmarks: the
// shapes pandas and numpy write, built with GLOBAL + REDUCE + BUILD.

type asm struct{ b []byte }

func (a *asm) op(codes ...byte) *asm { a.b = append(a.b, codes...); return a }

func (a *asm) str(s string) *asm {
	a.b = append(a.b, 'X')
	a.b = binary.LittleEndian.AppendUint32(a.b, uint32(len(s)))
	a.b = append(a.b, s...)
	return a
}

func (a *asm) bytes(p []byte) *asm {
	a.b = append(a.b, 'B')
	a.b = binary.LittleEndian.AppendUint32(a.b, uint32(len(p)))
	a.b = append(a.b, p...)
	return a
}

func (a *asm) int(n int) *asm {
	a.b = append(a.b, 'J')
	a.b = binary.LittleEndian.AppendUint32(a.b, uint32(int32(n)))
	return a
}

func (a *asm) float(f float64) *asm {
	a.b = append(a.b, 'G')
	a.b = binary.BigEndian.AppendUint64(a.b, math.Float64bits(f))
	return a
}

func (a *asm) global(module, name string) *asm {
	a.b = append(a.b, 'c')
	a.b = append(a.b, module...)
	a.b = append(a.b, '\n')
	a.b = append(a.b, name...)
	a.b = append(a.b, '\n')
	return a
}

// dtype: numpy.dtype(name, False, True) + BUILD of its state.
func (a *asm) dtype(name string) *asm {
	a.global("numpy", "dtype").op('(').str(name).op(0x89, 0x88, 't', 'R')
	return a.op('(').int(3).str("<").op('N', 'N', 'N').int(-1).int(-1).int(0).op('t', 'b')
}

// ndarray: _reconstruct(ndarray, (0,), b'b') + BUILD (1, shape, dtype, False, data).
func (a *asm) ndarray(dt string, data []byte, shape ...int) *asm {
	a.global("numpy.core.multiarray", "_reconstruct").op('(').global("numpy", "ndarray").op('(').int(0).op('t').bytes([]byte("b")).op('t', 'R')
	a.op('(').int(1).op('(')
	for _, d := range shape {
		a.int(d)
	}
	a.op('t')
	return a.dtype(dt).op(0x89).bytes(data).op('t', 'b')
}

// block: pandas._libs.internals._unpickle_block(values, slice(lo, hi, 1), 2),
// values already written by fill.
func (a *asm) block(lo, hi int, fill func()) *asm {
	a.global("pandas._libs.internals", "_unpickle_block").op('(')
	fill()
	a.global("builtins", "slice").op('(').int(lo).int(hi).int(1).op('t', 'R')
	return a.int(2).op('t', 'R')
}

// genDataFrame writes a pandas-1.x-shaped DataFrame of rows rows: two
// float64 columns (one with NaNs), two int64 columns (values > 255) and a
// datetime64[ns] column, in three consolidated blocks, with a RangeIndex.
func genDataFrame(rows int) []byte {
	f8 := make([]byte, 0, 16*rows)
	for c := range 2 {
		for r := range rows {
			v := float64(r)*0.5 + float64(c)
			if c == 1 && r%10 == 0 {
				v = math.NaN()
			}
			f8 = binary.LittleEndian.AppendUint64(f8, math.Float64bits(v))
		}
	}
	i8 := make([]byte, 0, 16*rows)
	for c := range 2 {
		for r := range rows {
			i8 = binary.LittleEndian.AppendUint64(i8, uint64(1000+r*(c+1)))
		}
	}
	m8 := make([]byte, 0, 8*rows)
	for r := range rows {
		m8 = binary.LittleEndian.AppendUint64(m8, uint64(1_700_000_000_000_000_000+int64(r)*1_000_000_000))
	}
	a := &asm{b: []byte{0x80, 2}}
	a.global("copyreg", "_reconstructor").op('(').global("pandas.core.frame", "DataFrame").global("builtins", "object").op('N', 't', 'R')
	a.op('}', '(').str("_mgr")
	a.global("pandas.core.internals.managers", "BlockManager").op('(')
	a.op(']', '(')
	a.block(0, 2, func() { a.ndarray("f8", f8, 2, rows) })
	a.block(2, 4, func() { a.ndarray("i8", i8, 2, rows) })
	a.block(4, 5, func() { a.ndarray("M8", m8, 1, rows) })
	a.op('e')
	a.op(']', '(')
	a.global("pandas.core.indexes.base", "_new_Index").op('(').global("pandas.core.indexes.base", "Index")
	a.op('}', '(').str("data")
	a.global("numpy.core.multiarray", "_reconstruct").op('(').global("numpy", "ndarray").op('(').int(0).op('t').bytes([]byte("b")).op('t', 'R')
	a.op('(').int(1).op('(').int(5).op('t').dtype("O8").op(0x89, ']', '(')
	for _, n := range []string{"score", "ratio", "id", "count", "at"} {
		a.str(n)
	}
	a.op('e', 't', 'b')
	a.str("name").op('N', 'u', 't', 'R')
	a.global("pandas.core.indexes.base", "_new_Index").op('(').global("pandas.core.indexes.range", "RangeIndex")
	a.op('}', '(').str("name").op('N').str("start").int(0).str("stop").int(rows).str("step").int(1).op('u', 't', 'R')
	a.op('e', 't', 'R')
	a.str("_typ").str("dataframe").op('u', 'b', '.')
	return a.b
}

// genMatrixF8 writes a rows x dim float64 ndarray (a FLOAT_VECTOR column
// converted element by element).
func genMatrixF8(rows, dim int) []byte {
	data := make([]byte, 0, 8*rows*dim)
	for i := range rows * dim {
		data = binary.LittleEndian.AppendUint64(data, math.Float64bits(float64(i%1000)/1000))
	}
	a := &asm{b: []byte{0x80, 2}}
	a.ndarray("f8", data, rows, dim)
	return a.op('.').b
}

// genFloatLists writes {"a": [floats], "b": [floats]}: a dict of float
// columns, decoded by the fast path; APPENDS in batches of 1000, as
// CPython writes them.
func genFloatLists(rows int) []byte {
	a := &asm{b: []byte{0x80, 2}}
	a.op('}', '(')
	for _, k := range []string{"a", "b"} {
		a.str(k).op(']')
		for r := range rows {
			if r%1000 == 0 {
				a.op('(')
			}
			a.float(float64(r) / 3)
			if r%1000 == 999 || r == rows-1 {
				a.op('e')
			}
		}
	}
	return a.op('u', '.').b
}

func BenchmarkDataFrame(b *testing.B) {
	for _, rows := range []int{100_000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			benchLoad(b, genDataFrame(rows))
		})
	}
}

func BenchmarkMatrixF8(b *testing.B) {
	b.Run("rows=1000/dim=640", func(b *testing.B) { benchLoad(b, genMatrixF8(1000, 640)) })
}

func BenchmarkFloatLists(b *testing.B) {
	b.Run("rows=100000", func(b *testing.B) { benchLoad(b, genFloatLists(100_000)) })
}

// TestGeneratedBenchInputs: the generated inputs load as the shapes they
// claim, so the benchmarks measure what they say.
func TestGeneratedBenchInputs(t *testing.T) {
	t.Parallel()
	tb, err := Load(genDataFrame(100), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tb.NumRows != 100 || len(tb.Columns) != 5 {
		t.Fatalf("DataFrame: %d rows, %d columns", tb.NumRows, len(tb.Columns))
	}
	if c := tb.Columns[1]; len(c.Nulls) != 10 || c.Doubles[1] != 1.5 {
		t.Errorf("ratio: %d nulls, [1] = %v", len(c.Nulls), c.Doubles[1])
	}
	if c := tb.Columns[3]; c.Int64s[99] != 1000+99*2 {
		t.Errorf("count[99] = %d", c.Int64s[99])
	}
	if c := tb.Columns[4]; c.Int64s[1] != 1_700_000_001_000_000 {
		t.Errorf("at[1] = %d", c.Int64s[1])
	}
	m, err := Load(genMatrixF8(3, 4), Options{})
	if err != nil || m.NumRows != 3 || m.Columns[0].VectorDim != 4 || m.Columns[0].Vectors[5] != 0.005 {
		t.Fatalf("matrix: %v %+v", err, m)
	}
	fl, err := Load(genFloatLists(10), Options{})
	if err != nil || fl.NumRows != 10 || len(fl.Columns) != 2 || fl.Columns[1].Doubles[3] != 1 {
		t.Fatalf("float lists: %v %+v", err, fl)
	}
}

// TestNumericDecodeAllocs: numeric columns, float64 matrices and float
// lists are decoded straight into typed slices: the allocations of a load
// do not grow with the number of values (boxing one value per element made
// them about one per value).
func TestNumericDecodeAllocs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		data   []byte
		values int
	}{
		{"dataframe", genDataFrame(20_000), 5 * 20_000},
		{"matrix_f8", genMatrixF8(200, 100), 200 * 100},
		{"float_lists", genFloatLists(20_000), 2 * 20_000},
	} {
		allocs := testing.AllocsPerRun(3, func() {
			if _, err := Load(tc.data, Options{}); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > float64(tc.values)/20 {
			t.Errorf("%s: %.0f allocations for %d values", tc.name, allocs, tc.values)
		}
	}
}
