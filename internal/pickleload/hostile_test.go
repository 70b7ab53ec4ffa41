package pickleload_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/pickleload"
)

const (
	// hostileTimeLimit bounds one hostile Load. Generous: the point is
	// "returns", not "is fast" (no timing is asserted beyond a hang).
	hostileTimeLimit = 30 * time.Second
	// hostileAllocLimit bounds the bytes one hostile Load may allocate.
	hostileAllocLimit = 256 << 20
)

// TestHostile loads every hostile fixture: each must return within a bounded
// time, allocate a bounded amount of memory, never panic, and give the
// expected error (or, for the few valid oddities, the expected table).
//
// It runs sequentially so the allocation figures are this Load's alone.
func TestHostile(t *testing.T) {
	for _, name := range fixtureNames(t, hostileDir) {
		t.Run(name, func(t *testing.T) {
			data := readFile(t, filepath.Join(hostileDir, name+".pkl"))
			res := loadBounded(data, pickleload.Options{}, hostileTimeLimit)
			switch {
			case res.timedOut:
				t.Fatalf("Load did not return within %v", hostileTimeLimit)
			case res.panicked != nil:
				t.Fatalf("Load panicked: %v\n%s", res.panicked, res.stack)
			case pickleload.IsRecoveredPanic(res.err):
				t.Fatalf("Load panicked (caught by its last-line recover): %v", res.err)
			}
			if res.allocated > hostileAllocLimit {
				t.Errorf("Load allocated %d MiB on a %d-byte input, limit %d MiB",
					res.allocated>>20, len(data), hostileAllocLimit>>20)
			}
			base := filepath.Join(hostileDir, name)
			if spec, ok := readErrorSpec(t, base+".error.txt"); ok {
				spec.check(t, res.table, res.err)
				return
			}
			if res.err != nil {
				t.Fatalf("Load: %v", res.err)
			}
			checkTable(t, res.table, base)
		})
	}
}

// TestTruncatedEverywhere cuts small real fixtures at every offset: each
// prefix must give a bad-file error, never a panic or a table.
func TestTruncatedEverywhere(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"records_protocol0", "records_protocol2", "records_protocol5", "df_protocol2", "df_protocol5", "objects_pydantic_v2", "ndarray_f32_p5"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data := readFile(t, filepath.Join(fixturesDir, name+".pkl"))
			for n := 0; n < len(data); n++ {
				res := loadBounded(data[:n], pickleload.Options{}, hostileTimeLimit)
				switch {
				case res.timedOut:
					t.Fatalf("prefix %d/%d: Load did not return within %v", n, len(data), hostileTimeLimit)
				case res.panicked != nil:
					t.Fatalf("prefix %d/%d: Load panicked: %v\n%s", n, len(data), res.panicked, res.stack)
				case pickleload.IsRecoveredPanic(res.err):
					t.Fatalf("prefix %d/%d: Load panicked (caught by its last-line recover): %v", n, len(data), res.err)
				case res.err == nil:
					t.Fatalf("prefix %d/%d: Load succeeded (%s)", n, len(data), schemaString(res.table))
				case !errors.Is(res.err, pickleload.ErrInvalid):
					t.Fatalf("prefix %d/%d: error %q is not ErrInvalid", n, len(data), res.err)
				}
			}
		})
	}
}

// TestLimitsOption checks that explicit small limits are honoured on valid
// input: a tight MaxDecodedBytes or MaxDepth turns a good file into an
// ErrLimit error, not a partial table.
func TestLimitsOption(t *testing.T) {
	t.Parallel()
	data := readFile(t, filepath.Join(fixturesDir, "recruit_small_records.pkl"))
	if _, err := pickleload.Load(data, pickleload.Options{MaxDecodedBytes: 1024}); !errors.Is(err, pickleload.ErrLimit) {
		t.Errorf("MaxDecodedBytes 1024: err = %v, want ErrLimit", err)
	}
	deep := readFile(t, filepath.Join(fixturesDir, "infer_nested_dict_json.pkl"))
	if _, err := pickleload.Load(deep, pickleload.Options{MaxDepth: 2}); !errors.Is(err, pickleload.ErrLimit) {
		t.Errorf("MaxDepth 2: err = %v, want ErrLimit", err)
	}
}

// TestLoadFileIOError: a missing file is an I/O error, not a bad file.
func TestLoadFileIOError(t *testing.T) {
	t.Parallel()
	_, err := pickleload.LoadFile(filepath.Join(t.TempDir(), "missing.pkl"), pickleload.Options{})
	if err == nil || errors.Is(err, pickleload.ErrInvalid) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile(missing) = %v, want a not-exist error that is not ErrInvalid", err)
	}
}

// TestErrorLocations: a bad file's error says where: the byte offset and
// opcode for a stream problem, the column and row for a value problem.
func TestErrorLocations(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		file   string
		offset int64 // -2: any offset >= 0
		op     string
		column string
		row    int
	}{
		{file: "fixtures/infer_vector_ragged", offset: -1, column: "embedding", row: 2},
		{file: "fixtures/df_uint64_overflow", offset: -1, column: "u64", row: 1},
		{file: "hostile/global_os_system", offset: 0, op: "GLOBAL", row: -1},
		{file: "hostile/stack_global_os_system", offset: 23, op: "STACK_GLOBAL", row: -1},
		{file: "hostile/binunicode8_2pow40", offset: 2, op: "BINUNICODE8", row: -1},
		{file: "hostile/memo_binget_undefined", offset: 3, op: "BINGET", row: -1},
		{file: "hostile/dict_odd_count", offset: 10, op: "DICT", row: -1},
		{file: "hostile/truncated_df_protocol4_at_952", offset: -2, row: -1},
	} {
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			_, err := pickleload.Load(readFile(t, filepath.Join("testdata", c.file+".pkl")), pickleload.Options{})
			var pe *pickleload.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *pickleload.Error", err)
			}
			if c.offset == -2 && pe.Offset < 0 || c.offset != -2 && pe.Offset != c.offset {
				t.Errorf("Offset = %d, want %d (%v)", pe.Offset, c.offset, err)
			}
			if c.op != "" && pe.Op != c.op {
				t.Errorf("Op = %q, want %q (%v)", pe.Op, c.op, err)
			}
			if pe.Column != c.column || pe.Row != c.row {
				t.Errorf("Column, Row = %q, %d, want %q, %d (%v)", pe.Column, pe.Row, c.column, c.row, err)
			}
		})
	}
}
