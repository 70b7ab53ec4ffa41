package pickleload

import (
	"fmt"
	"slices"

	"github.com/embedstream/embedstream/internal/table"
)

// Source is a table read in windows of rows. It is declared here until
// internal/table declares it (table.Source); the two are identical.
type Source interface {
	// Schema returns the fields, in column order.
	Schema() []table.Field
	// Rows returns the number of rows.
	Rows() int
	// Window returns rows [lo, hi) of the columns cols (schema indexes, in
	// that order; nil: all). The table may alias the input. Safe for
	// concurrent use. Arguments outside the table are a plain error; a
	// lazy source may also return ErrLimit (a window's values over the
	// budget: ask for fewer rows) or ErrFault (see [Open]).
	Window(lo, hi int, cols []int) (*table.Table, error)
	// WindowRows is the most rows a Window should hold to stay within the
	// memory budget; <= 0: no bound.
	WindowRows() int
}

// tableSource is a loaded table seen as a Source.
type tableSource struct{ t *table.Table }

var _ Source = tableSource{}

func (s tableSource) Schema() []table.Field { return s.t.Schema() }
func (s tableSource) Rows() int             { return s.t.Rows }
func (s tableSource) WindowRows() int       { return 0 }

func (s tableSource) Window(lo, hi int, cols []int) (*table.Table, error) {
	if err := checkWindow(lo, hi, s.t.Rows, cols, len(s.t.Columns)); err != nil {
		return nil, err
	}
	if cols == nil {
		cols = make([]int, len(s.t.Columns))
		for i := range cols {
			cols[i] = i
		}
	}
	w := &table.Table{Rows: hi - lo, Columns: make([]*table.Column, len(cols))}
	for i, c := range cols {
		w.Columns[i] = s.t.Columns[c].Slice(lo, hi)
		w.Columns[i].ValidUTF8 = s.t.Columns[c].ValidUTF8
	}
	return w, nil
}

// checkWindow checks Window's arguments.
func checkWindow(lo, hi, rows int, cols []int, ncols int) error {
	if lo < 0 || hi < lo || hi > rows {
		return fmt.Errorf("pickleload: window [%d, %d) outside the %d rows", lo, hi, rows)
	}
	for i, c := range cols {
		if c < 0 || c >= ncols {
			return fmt.Errorf("pickleload: column %d outside the %d columns", c, ncols)
		}
		if slices.Contains(cols[:i], c) {
			return fmt.Errorf("pickleload: column %d asked twice", c)
		}
	}
	return nil
}
