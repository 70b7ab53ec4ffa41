package pickleload_test

import (
	"testing"

	"github.com/embedstream/embedstream/internal/pickleload"
)

// TestDictSeriesConvertedOnce: a Series value in a dict of columns is
// converted once (measuring its length and building its column used to
// convert it twice): loading {"s": series} allocates about what loading
// the Series alone does, not one more column's worth.
func TestDictSeriesConvertedOnce(t *testing.T) {
	const n = 1 << 17
	vals := make([]int64, n)
	s := series(frombuffer(pBytes(int64s(vals...)), dtype("f8", -1), shape(n)), pySlice(0, 1, 1), rangeIndex(0, n, 1))
	alone := loadBounded(pickle(s), pickleload.Options{}, hostileTimeLimit)
	inDict := loadBounded(pickle(pDict(pStr("a"), s)), pickleload.Options{}, hostileTimeLimit)
	for _, r := range []loadResult{alone, inDict} {
		if r.err != nil || r.timedOut || r.panicked != nil {
			t.Fatalf("Load: %v (timed out %v, panicked %v)", r.err, r.timedOut, r.panicked)
		}
	}
	if inDict.table.NumRows != n || len(inDict.table.Columns) != 1 || inDict.table.Columns[0].Name != "a" {
		t.Fatalf("dict: %s, %d rows", schemaString(inDict.table), inDict.table.NumRows)
	}
	// One float64 column is 8n bytes; a second conversion adds at least that.
	if extra := int64(inDict.allocated) - int64(alone.allocated); extra > 4*n {
		t.Errorf("the dict load allocated %d bytes more than the Series alone (a column is %d)", extra, 8*n)
	}
}
