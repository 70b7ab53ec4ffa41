package pickleload

import (
	"fmt"
	"slices"

	"github.com/embedstream/embedstream/internal/table"
)

// tableSource is a loaded table seen as a Source.
type tableSource struct{ t *table.Table }

var _ table.Source = tableSource{}

func (s tableSource) Schema() []table.Field { return s.t.Schema() }
func (s tableSource) Rows() int             { return s.t.NumRows }
func (s tableSource) WindowRows() int       { return 0 }

func (s tableSource) Window(lo, hi int, cols []int) (*table.Table, error) {
	if err := checkWindow(lo, hi, s.t.NumRows, cols, len(s.t.Columns)); err != nil {
		return nil, err
	}
	if cols == nil {
		cols = make([]int, len(s.t.Columns))
		for i := range cols {
			cols[i] = i
		}
	}
	w := &table.Table{NumRows: hi - lo, Columns: make([]*table.Column, len(cols))}
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
