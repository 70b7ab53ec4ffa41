package table

import (
	"sync"
	"testing"
)

// TestTableIsItsOwnWholeWindow: a Table is a Source without a window
// bound, and its whole window with every column is the Table itself.
func TestTableIsItsOwnWholeWindow(t *testing.T) {
	tb := sample()
	var src Source = tb
	if src.Rows() != 5 || src.WindowRows() != 0 || len(src.Schema()) != 3 {
		t.Fatalf("Rows %d, WindowRows %d, %d fields", src.Rows(), src.WindowRows(), len(src.Schema()))
	}
	w, err := src.Window(0, 5, nil)
	if err != nil || w != tb {
		t.Fatalf("whole window: %p, %v; want the table itself (%p)", w, err, tb)
	}
}

// TestWindowAliasesRows: a partial window holds the rows asked for, in
// subslices of the table's columns, with nulls rebased, in either vector
// layout; a column selection comes in the order asked, and a whole-range
// selection shares the columns themselves.
func TestWindowAliasesRows(t *testing.T) {
	tb := sample()
	raw := rawSample()
	raw.Name = "raw"
	tb.Columns = append(tb.Columns, raw)
	if err := tb.Validate(); err != nil {
		t.Fatal(err)
	}
	w, err := tb.Window(1, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	if w.NumRows != 3 || len(w.Columns) != 4 || w.Columns[0].Int64s[0] != 2 {
		t.Fatalf("window %+v", w.Columns[0])
	}
	if &w.Columns[0].Int64s[0] != &tb.Columns[0].Int64s[1] || &w.Columns[2].Vectors[0] != &tb.Columns[2].Vectors[2] {
		t.Fatal("window values were copied")
	}
	if got := w.Columns[1].Nulls; len(got) != 2 || got[0] != 0 || got[1] != 2 {
		t.Fatalf("nulls not rebased: %v", got)
	}
	if raw := w.Columns[3]; &raw.RawVectors[0][0] != &tb.Columns[3].RawVectors[1][0] || raw.RawVectors[2] != nil || !raw.IsNull(2) {
		t.Fatal("raw vectors misplaced or copied")
	}

	sel, err := tb.Window(2, 5, []int{2, 0})
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumRows != 3 || len(sel.Columns) != 2 || sel.Columns[0].Name != "emb" || sel.Columns[1].Int64s[0] != 3 {
		t.Fatalf("selection %+v", sel)
	}
	all, err := tb.Window(0, 5, []int{1})
	if err != nil || len(all.Columns) != 1 || all.Columns[0] != tb.Columns[1] {
		t.Fatalf("whole-range selection: %+v, %v; want the column itself", all, err)
	}
	empty, err := tb.Window(5, 5, nil)
	if err != nil || empty.NumRows != 0 || empty.Validate() != nil {
		t.Fatalf("empty window: %+v, %v", empty, err)
	}
}

func TestWindowRefusesOutOfRange(t *testing.T) {
	tb := sample()
	for _, c := range []struct {
		lo, hi int
		cols   []int
	}{{-1, 2, nil}, {3, 2, nil}, {0, 6, nil}, {0, 2, []int{3}}, {0, 5, []int{-1}}} {
		if w, err := tb.Window(c.lo, c.hi, c.cols); err == nil {
			t.Errorf("Window(%d, %d, %v) = %+v, want an error", c.lo, c.hi, c.cols, w)
		}
	}
}

// TestWindowConcurrent reads windows from many goroutines at once (run
// with -race).
func TestWindowConcurrent(t *testing.T) {
	tb := sample()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for lo := range 5 {
				w, err := tb.Window(lo, 5, []int{g % 3})
				if err != nil || w.NumRows != 5-lo {
					t.Errorf("Window(%d, 5): %v", lo, err)
				}
			}
		})
	}
	wg.Wait()
}
