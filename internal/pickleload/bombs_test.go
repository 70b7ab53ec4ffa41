package pickleload_test

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/pickleload"
)

// bombAlloc bounds what one memory-bomb Load may allocate: about the
// default work budget (64 MiB + 8 x input), which a bomb may use up before
// it is stopped, and far below what each of them made the loader allocate
// before it was fixed (GiBs, or a hang).
const bombAlloc = 128 << 20

// Review 2 reproducers, byte for byte (CPython pickle.dumps of stand-in
// pandas classes, protocol 4; /tmp/rv_gen_bigindex.py).
const (
	// DataFrame with no blocks and columns RangeIndex(0, 60_000_000):
	// built 60M boxed labels (1.45 GB RSS) before failing.
	rvBigColsHex = "80049520010000000000008c1170616e6461732e636f72652e6672616d65948c09446174614672616d659493942981947d94288c045f6d6772948c1e70616e6461732e636f72652e696e7465726e616c732e6d616e6167657273948c0c426c6f636b4d616e616765729493945d945d94288c1870616e6461732e636f72652e696e64657865732e62617365948c0a5f6e65775f496e6465789493948c1970616e6461732e636f72652e696e64657865732e72616e6765948c0a52616e6765496e6465789493947d94288c046e616d65944e8c057374617274944b008c0473746f70944a008793038c0473746570944b017586945294680d68107d942868124e68134b0068144b0168154b01758694529465869452948c045f747970948c09646174616672616d659475622e"
	// DataFrame with no columns and rows RangeIndex(0, 2_000_000_000):
	// loaded as a table of 2e9 rows.
	rvBigRowsHex = "80049520010000000000008c1170616e6461732e636f72652e6672616d65948c09446174614672616d659493942981947d94288c045f6d6772948c1e70616e6461732e636f72652e696e7465726e616c732e6d616e6167657273948c0c426c6f636b4d616e616765729493945d945d94288c1870616e6461732e636f72652e696e64657865732e62617365948c0a5f6e65775f496e6465789493948c1970616e6461732e636f72652e696e64657865732e72616e6765948c0a52616e6765496e6465789493947d94288c046e616d65944e8c057374617274944b008c0473746f70944b008c0473746570944b017586945294680d68107d942868124e68134b0068144a0094357768154b01758694529465869452948c045f747970948c09646174616672616d659475622e"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMemoryBombs: tiny pickles whose pandas metadata claims huge sizes
// must fail (or load) within a small allocation budget, without building
// anything per claimed item first.
func TestMemoryBombs(t *testing.T) {
	f64 := dtype("f8", -1)
	one := frombuffer(pBytes(int64s(0)), f64, shape(1))
	for _, tc := range []struct {
		name string
		data []byte
		want []error // accepted kinds
	}{
		{name: "columns_range_60M", data: mustHex(t, rvBigColsHex), want: []error{pickleload.ErrLimit}},
		{name: "columns_range_2pow24_with_rows", data: pickle(dataFrame(nil, rangeIndex(0, 1<<24, 1), rangeIndex(0, 2, 1))), want: []error{pickleload.ErrLimit}},
		{name: "rows_range_2e9_no_columns", data: mustHex(t, rvBigRowsHex), want: []error{pickleload.ErrLimit}},
		{name: "rows_range_overflow", data: pickle(dataFrame(nil, columnsIndex(), rangeIndex(-(1<<62), 1<<62, 1))), want: []error{pickleload.ErrLimit}},
		{name: "placement_slice_2pow25", data: pickle(dataFrame([]pv{block(ndarray(shape(1, 2), f64, pBytes(int64s(0, 0))), pySlice(0, 1<<25, 1))}, columnsIndex("a"), rangeIndex(0, 2, 1))), want: []error{pickleload.ErrMalformed}},
		{name: "placement_slice_negative", data: pickle(dataFrame([]pv{block(ndarray(shape(1, 2), f64, pBytes(int64s(0, 0))), pySlice(-3, 1, 1))}, columnsIndex("a"), rangeIndex(0, 2, 1))), want: []error{pickleload.ErrMalformed}},
		{name: "placement_twice", data: pickle(dataFrame([]pv{
			block(ndarray(shape(1, 2), f64, pBytes(int64s(0, 0))), pySlice(0, 1, 1)),
			block(ndarray(shape(1, 2), f64, pBytes(int64s(0, 0))), pySlice(0, 1, 1)),
		}, columnsIndex("a", "b"), rangeIndex(0, 2, 1))), want: []error{pickleload.ErrMalformed}},
		// 100 blocks, each the whole 2M length, over one value: 1.6 GB of
		// positions before the count check.
		{name: "sparse_blockindex_100_full_blocks", data: pickle(series(sparse(1<<21,
			pReduce(pGlobal("pandas._libs.sparse", "BlockIndex"), pInt(1<<21), intList(100, 0), intList(100, 1<<21)), one),
			pySlice(0, 1, 1), rangeIndex(0, 1<<21, 1))), want: []error{pickleload.ErrMalformed}},
		{name: "sparse_blockindex_negative_start", data: pickle(series(sparse(2,
			pReduce(pGlobal("pandas._libs.sparse", "BlockIndex"), pInt(2), pList(pInt(-1)), pList(pInt(1))), one),
			pySlice(0, 1, 1), rangeIndex(0, 2, 1))), want: []error{pickleload.ErrMalformed}},
		{name: "sparse_blockindex_past_end", data: pickle(series(sparse(2,
			pReduce(pGlobal("pandas._libs.sparse", "BlockIndex"), pInt(2), pList(pInt(2)), pList(pInt(1))), one),
			pySlice(0, 1, 1), rangeIndex(0, 2, 1))), want: []error{pickleload.ErrMalformed}},
		{name: "sparse_intindex_negative", data: pickle(series(sparse(2,
			pReduce(pGlobal("pandas._libs.sparse", "IntIndex"), pInt(2), pySlice(-1, 0, 1)), one),
			pySlice(0, 1, 1), rangeIndex(0, 2, 1))), want: []error{pickleload.ErrMalformed}},
		{name: "zero_width_series", data: pickle(series(zeroWidth(1<<24), pySlice(0, 1, 1), rangeIndex(0, 1<<24, 1))), want: []error{pickleload.ErrUnsupported}},
		{name: "zero_width_placement", data: pickle(dataFrame([]pv{block(ndarray(shape(1, 2), f64, pBytes(int64s(0, 0))), zeroWidth(1<<26))}, columnsIndex("a"), rangeIndex(0, 2, 1))), want: []error{pickleload.ErrMalformed, pickleload.ErrUnsupported}},
		// tuple keys from memo reads (2^40 leaves) or 100000 TUPLE1s deep
		{name: "key_tuple_shared_doubling", data: pickle(pList(pDict(doublingTuple(40), pInt(1)))), want: []error{pickleload.ErrLimit}},
		{name: "key_tuple_deep_nesting", data: pickle(pList(pDict(nestedTuple1(100000), pInt(1)))), want: []error{pickleload.ErrLimit}},
		// N records with N distinct keys: N columns of N cells
		{name: "records_distinct_keys", data: pickle(distinctKeyRecords(6000)), want: []error{pickleload.ErrLimit}},
		// 3000 rows holding one memoized ndarray whose data is a str
		// (decoded, and its data copied, once per row)
		{name: "rows_share_str_backed_array", data: pickle(pDict(pStr("a"), sharedRows(3000, ndarray(shape(1<<16), dtype("f4", -1), pStr(strings.Repeat("\x00", 1<<18)))))), want: []error{pickleload.ErrLimit}},
		// BUILD on a list of 2000 reads of one 32 KiB bytes, directly and
		// through the memo: gopickle's error formatted the list with %#v
		{name: "build_on_shared_list", data: pickle(pBuild(sharedRows(2000, pBytes(make([]byte, 32<<10))), pDict())), want: []error{pickleload.ErrMalformed}},
		{name: "build_on_memoized_list", data: pickle(seq(sharedRows(2000, pBytes(make([]byte, 32<<10))), pPut(9), op('0'), pGet(9), pDict(pStr("a"), pInt(1)), op('b'))), want: []error{pickleload.ErrMalformed}},
		{name: "build_on_list_call", data: pickle(pBuild(pReduce(pGlobal("builtins", "list"), sharedRows(2000, pBytes(make([]byte, 32<<10)))), pDict(pStr("a"), pInt(1)))), want: []error{pickleload.ErrMalformed}},
		// 2.5M one-byte DUPs: a 2.5M-deep stack in every interpreter
		{name: "dup_flood", data: pickle(seq(pNone, op([]byte(strings.Repeat("2", 2_500_000))...))), want: []error{pickleload.ErrLimit}},
		// 6000 columns reading one memoized 6000-int list
		{name: "dict_shared_int_column", data: pickle(sharedColumns(6000, 6000, pInt(123456))), want: []error{pickleload.ErrLimit}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := loadBounded(tc.data, pickleload.Options{}, hostileTimeLimit)
			switch {
			case res.timedOut:
				t.Fatalf("Load did not return within %v", hostileTimeLimit)
			case res.panicked != nil:
				t.Fatalf("Load panicked: %v\n%s", res.panicked, res.stack)
			case pickleload.IsRecoveredPanic(res.err):
				t.Fatalf("Load panicked (caught by its last-line recover): %v", res.err)
			}
			if res.allocated > bombAlloc {
				t.Errorf("Load allocated %d MiB on a %d-byte input, limit %d MiB", res.allocated>>20, len(tc.data), bombAlloc>>20)
			}
			if res.err == nil {
				t.Fatalf("Load succeeded (%d rows, %d columns), want an error", res.table.NumRows, len(res.table.Columns))
			}
			ok := false
			for _, k := range tc.want {
				ok = ok || errors.Is(res.err, k)
			}
			if !ok || !errors.Is(res.err, pickleload.ErrInvalid) {
				t.Errorf("error %q, want one of %v", res.err, tc.want)
			}
		})
	}
}

// TestNoColumnsNoRows: a DataFrame without columns is an empty table even
// when its RangeIndex claims rows (there is nothing to stream per row).
func TestNoColumnsNoRows(t *testing.T) {
	t.Parallel()
	tb, err := pickleload.Load(pickle(dataFrame(nil, columnsIndex(), rangeIndex(0, 1000, 1))), pickleload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tb.NumRows != 0 || len(tb.Columns) != 0 {
		t.Errorf("got %d rows, %d columns, want an empty table", tb.NumRows, len(tb.Columns))
	}
}

// TestRangeColumnLabels: RangeIndex column labels are named str(label)
// without building the labels.
func TestRangeColumnLabels(t *testing.T) {
	t.Parallel()
	data := pickle(dataFrame([]pv{block(ndarray(shape(2, 2), dtype("f8", -1), pBytes(int64s(0, 0, 0, 0))), pySlice(0, 2, 1))},
		rangeIndex(5, 11, 3), rangeIndex(0, 2, 1)))
	tb, err := pickleload.Load(data, pickleload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Columns) != 2 || tb.Columns[0].Name != "5" || tb.Columns[1].Name != "8" || tb.NumRows != 2 {
		t.Errorf("got %s", schemaString(tb))
	}
}

// TestBytesKeyName: a bytes key that is not UTF-8 names its column as
// Python's str() does (b'\xff\xfe'), never with invalid UTF-8.
func TestBytesKeyName(t *testing.T) {
	t.Parallel()
	tb, err := pickleload.Load(pickle(pList(pDict(pBytes([]byte{0xff, 0xfe}), pInt(1), pBytes([]byte("ok")), pInt(2)))), pickleload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Columns) != 2 || tb.Columns[0].Name != `b'\xff\xfe'` || tb.Columns[1].Name != "ok" {
		t.Errorf("got %s", schemaString(tb))
	}
}
