package table

import "fmt"

// Source is a dataset read a window of rows at a time, so that a consumer
// touches a bounded run of rows at once and a loader can serve datasets
// larger than memory. [*Table] is the Source of a dataset held whole in
// memory.
type Source interface {
	// Schema returns the dataset's fields in column order.
	Schema() []Field
	// Rows returns the number of rows.
	Rows() int
	// Window returns rows [lo, hi) as a Table of hi-lo rows holding the
	// columns at the given schema indexes (nil: all), in that order. It
	// may alias the source's memory and stays valid until the source is
	// released. Safe for concurrent use.
	Window(lo, hi int, cols []int) (*Table, error)
	// WindowRows is the most rows one Window should span to keep memory
	// bounded; <= 0: no bound.
	WindowRows() int
}

var _ Source = (*Table)(nil)

// Rows returns t.NumRows; with [Table.Window] and [Table.WindowRows] it
// makes a Table a [Source].
func (t *Table) Rows() int { return t.NumRows }

// WindowRows returns 0: a Table is in memory already, so any window may
// span all of it.
func (t *Table) WindowRows() int { return 0 }

// Window returns rows [lo, hi) of the columns at the indexes cols (nil:
// all, in order) without copying any value: t itself when that is all of
// t, else a Table of subslices ([Column.Slice]; a column is shared as it is
// when the window spans every row). It reads t only, so concurrent calls
// are safe while nothing changes t. An out-of-range row or column index is
// an error.
func (t *Table) Window(lo, hi int, cols []int) (*Table, error) {
	if lo < 0 || hi < lo || hi > t.NumRows {
		return nil, fmt.Errorf("table: window [%d, %d) out of range: %d rows", lo, hi, t.NumRows)
	}
	whole := lo == 0 && hi == t.NumRows
	if cols == nil {
		if whole {
			return t, nil
		}
		return t.Slice(lo, hi), nil
	}
	w := &Table{Columns: make([]*Column, len(cols)), NumRows: hi - lo}
	for i, k := range cols {
		if k < 0 || k >= len(t.Columns) {
			return nil, fmt.Errorf("table: window column %d out of range: %d columns", k, len(t.Columns))
		}
		if whole {
			w.Columns[i] = t.Columns[k]
		} else {
			w.Columns[i] = t.Columns[k].Slice(lo, hi)
		}
	}
	return w, nil
}
