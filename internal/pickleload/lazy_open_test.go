package pickleload

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/canonical"
)

// TestOpenChoosesThePath: no budget or a budget the eager load fits is
// Load's table; a smaller one reads lazily, to the same rows.
func TestOpenChoosesThePath(t *testing.T) {
	t.Parallel()
	data := genRecords(5000, 8)
	for _, tc := range []struct {
		budget int64
		lazy   bool
	}{{0, false}, {1 << 40, false}, {int64(len(data)) * 2, true}, {1, true}} {
		src, err := Open(data, Options{MemoryBudget: tc.budget})
		if err != nil {
			t.Fatalf("budget %d: %v", tc.budget, err)
		}
		if _, lazy := src.(*lazySource); lazy != tc.lazy {
			t.Errorf("budget %d: lazy %v, want %v", tc.budget, lazy, tc.lazy)
		}
		if src.Rows() != 5000 || len(src.Schema()) != 7 {
			t.Errorf("budget %d: %d rows, schema %v", tc.budget, src.Rows(), src.Schema())
		}
		if tc.lazy && (src.WindowRows() <= 0 || src.WindowRows() > 5000) {
			t.Errorf("budget %d: WindowRows %d", tc.budget, src.WindowRows())
		}
	}
}

// TestOpenRefuses: a file over the budget that the lazy path cannot read
// in parts is an ErrLimit error saying why; without a budget it loads.
func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	data := genRecords(5000, 8)
	// a DUP (never written by pickle.dump) after the list: cannot be replayed
	dup := append([]byte{0x80, 4, opNone, opDup, opPop, opPop}, data[2:]...)
	_, err := Open(dup, Options{MemoryBudget: 1})
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "DUP") {
		t.Fatalf("err = %v, want an ErrLimit refusal naming DUP", err)
	}
	if _, err := Open(dup, Options{}); err != nil {
		t.Fatalf("without a budget: %v", err)
	}
}

// TestWindowArguments: a bad window is an error that is not a bad file.
func TestWindowArguments(t *testing.T) {
	t.Parallel()
	data := genRecords(300, 4)
	for _, budget := range []int64{0, 1} {
		src, err := Open(data, Options{MemoryBudget: budget})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []struct {
			lo, hi int
			cols   []int
		}{{-1, 2, nil}, {3, 2, nil}, {0, 301, nil}, {0, 1, []int{7}}, {0, 1, []int{1, 1}}, {0, 1, []int{-1}}} {
			if _, err := src.Window(w.lo, w.hi, w.cols); err == nil || errors.Is(err, ErrInvalid) {
				t.Errorf("budget %d: Window(%d, %d, %v) = %v, want a usage error", budget, w.lo, w.hi, w.cols, err)
			}
		}
		w, err := src.Window(10, 10, []int{2, 0})
		if err != nil || w.NumRows != 0 || len(w.Columns) != 2 || w.Columns[0].Name != "description" {
			t.Errorf("budget %d: empty window: %v %+v", budget, err, w)
		}
		w, err = src.Window(298, 300, []int{0})
		if err != nil || !w.Columns[0].ValidUTF8 {
			t.Fatalf("budget %d: %v", budget, err)
		}
		var b bytes.Buffer
		if err := canonical.WriteTable(&b, w); err != nil || b.String() != `{"id":2086}`+"\n"+`{"id":2093}`+"\n" {
			t.Errorf("budget %d: last rows %q (%v)", budget, b.String(), err)
		}
	}
}
