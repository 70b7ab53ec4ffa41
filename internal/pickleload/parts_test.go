package pickleload

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/table"
)

// sourceJSONL reads every row of src, WindowRows at a time (all at once
// when it has no bound), as canonical JSONL, with its schema.
func sourceJSONL(t *testing.T, src table.Source) (string, string) {
	t.Helper()
	n := src.WindowRows()
	if n <= 0 {
		n = max(1, src.Rows())
	}
	var b bytes.Buffer
	for lo := 0; lo < src.Rows(); lo += n {
		w, err := src.Window(lo, min(src.Rows(), lo+n), nil)
		if err != nil {
			t.Fatalf("Window(%d): %v", lo, err)
		}
		if err := w.Validate(); err != nil {
			t.Fatalf("Window(%d): %v", lo, err)
		}
		if err := canonical.WriteTable(&b, w); err != nil {
			t.Fatal(err)
		}
	}
	return b.String(), fieldsString(src.Schema())
}

func fieldsString(fs []table.Field) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Name + ":" + f.Type.String())
		if f.Nullable {
			b.WriteString("?")
		}
		b.WriteString(" ")
	}
	return b.String()
}

// TestOpenAppended: a file of appended pickles opened with any budget is
// Load's table: parts read lazily, held whole, or loaded again on demand
// when the tables held would pass half the budget.
func TestOpenAppended(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat(genRecords(5000, 8), 3)
	small := bytes.Repeat(genRecords(20, 4), 40)
	for _, tc := range []struct {
		name     string
		data     []byte
		budget   int64
		parts    bool // a partsSource
		onDemand bool // some part is loaded again on demand
		bounded  bool // windows are bounded (WindowRows > 0)
	}{
		{"big/no budget", big, 0, false, false, false},
		{"big/fits", big, 1 << 40, false, false, false},
		{"big/lazy", big, int64(len(big)) / 2, true, false, true},
		{"big/tiny", big, 1, true, false, true},
		{"small/held", small, int64(len(small)) * 8, true, false, false},
		{"small/on demand", small, int64(len(small)), true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := Load(tc.data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var wb bytes.Buffer
			if err := canonical.WriteTable(&wb, want); err != nil {
				t.Fatal(err)
			}
			src, err := Open(tc.data, Options{MemoryBudget: tc.budget})
			if err != nil {
				t.Fatal(err)
			}
			ps, isParts := src.(*partsSource)
			if isParts != tc.parts {
				t.Fatalf("source %T, want parts %v", src, tc.parts)
			}
			if isParts {
				dropped := false
				for _, p := range ps.parts {
					dropped = dropped || p.src == nil
				}
				if dropped != tc.onDemand {
					t.Errorf("a part loaded on demand: %v, want %v", dropped, tc.onDemand)
				}
				if (src.WindowRows() > 0) != tc.bounded {
					t.Errorf("WindowRows %d, want bounded %v", src.WindowRows(), tc.bounded)
				}
			}
			got, schema := sourceJSONL(t, src)
			if schema != fieldsString(want.Schema()) || got != wb.String() {
				t.Fatalf("Open's rows differ from Load's\nschema %s\nwant   %s\ngot  %.300s\nwant %.300s", schema, fieldsString(want.Schema()), got, wb.String())
			}
			if want.NumRows != 3*5000 && want.NumRows != 40*20 {
				t.Errorf("%d rows", want.NumRows)
			}
		})
	}
}

// TestAppendedErrorsPlaceTheFile: an error of a later pickle names it,
// with the file's offset and the table's row.
func TestAppendedErrorsPlaceTheFile(t *testing.T) {
	t.Parallel()
	one := genRecords(3, 2)
	// a second list whose second record holds 2**64 in "a": no int64
	bad := []byte{0x80, 2, ']', '(', '}', 'X', 1, 0, 0, 0, 'a', 'K', 1, 's', '}', 'X', 1, 0, 0, 0, 'a', 0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, 's', 'e', '.'}
	data := append(append(append([]byte{}, one...), one...), bad...)
	for _, budget := range []int64{0, 1} {
		_, err := Open(data, Options{MemoryBudget: budget})
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrUnsupported) {
			t.Fatalf("budget %d: err = %v", budget, err)
		}
		if e.Column != "a" || e.Row != 7 || !strings.Contains(e.Msg, "pickle 3 of the file (from byte ") {
			t.Errorf("budget %d: err = %v (column %q, row %d), want column a, row 7, pickle 3", budget, err, e.Column, e.Row)
		}
	}
	// a truncated third pickle: the file's offset
	cut := append(append(append([]byte{}, one...), one...), one[:20]...)
	_, err := Load(cut, Options{})
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrMalformed) || e.Offset < int64(2*len(one)) || !strings.Contains(e.Msg, "pickle 3 of the file") {
		t.Errorf("truncated: err = %v", err)
	}
}

// TestAppendedLimitsAcrossPickles: the limits are the file's, counted
// across its pickles: pickles that each fit the decoded-size limit alone
// are refused together.
func TestAppendedLimitsAcrossPickles(t *testing.T) {
	t.Parallel()
	one := genRecords(200, 8)
	sr, err := scan(one, Options{}.withDefaults(len(one)))
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat(one, 3)
	opts := Options{MaxDecodedBytes: sr.decoded * 2}
	if _, err := Load(one, opts); err != nil {
		t.Fatalf("one pickle: %v", err)
	}
	for _, budget := range []int64{0, 1} {
		_, err := Open(data, Options{MaxDecodedBytes: opts.MaxDecodedBytes, MemoryBudget: budget})
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "pickle 3 of the file") {
			t.Errorf("budget %d: err = %v, want ErrLimit in pickle 3", budget, err)
		}
	}
}

// TestLeanPassDecodedSize: the index passes count the decoded size as the
// eager pre-pass does (appended pickles carry it from one to the next).
func TestLeanPassDecodedSize(t *testing.T) {
	t.Parallel()
	var paths []string
	for _, g := range []string{"testdata/fixtures/*.pkl", "testdata/hostile/*.pkl", "testdata/random/*.pkl"} {
		m, _ := filepath.Glob(g)
		paths = append(paths, m...)
	}
	if len(paths) < 400 {
		t.Fatalf("only %d inputs", len(paths))
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		o := Options{}.withDefaults(len(data))
		sr, err := scan(data, o)
		if err != nil || len(data) == 0 {
			continue
		}
		li := newLeanIndex(defaultTuning())
		if err := leanScan(data, o, li); err != nil {
			if !errors.Is(err, errJoblib) {
				t.Errorf("%s: the index pass fails where the pre-pass does not: %v", p, err)
			}
			continue
		}
		if li.decoded != sr.decoded || li.end != len(sr.data) {
			t.Errorf("%s: index pass: decoded %d, end %d; pre-pass: %d, %d", p, li.decoded, li.end, sr.decoded, len(sr.data))
		}
	}
}

// TestKeyColumn: the hint names the key column of a dict keyed by id, and
// tells the orientation when one side's keys hold it.
func TestKeyColumn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file, hint, want string
		rows             int
	}{
		{"dict_index.pkl", "recruit_id", "recruit_id name score active created_at embedding", 5},
		{"dict_dict.pkl", "recruit_id", "recruit_id name score active created_at embedding", 5},
		{"dict_index.pkl", "", "index name score active created_at embedding", 5},
		{"dict_index_rangeindex.pkl", "id", "index id name score active created_at embedding", 5}, // the hint is a column
		{"dict_index_index_taken.pkl", "index", "level_0 name index active created_at embedding", 5},
		{"dict_ambiguous.pkl", "f2", "index f1 f2 f3", 4}, // inner keys hold the hint: they are the columns
		{"dict_ambiguous.pkl", "u3", "index u1 u2 u3 u4", 3},
		{"dict_ambiguous_dict.pkl", "f1", "index f1 f2 f3", 4},
	} {
		data, err := os.ReadFile(filepath.Join("testdata/formats", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		tb, err := Load(data, Options{KeyColumn: tc.hint})
		if err != nil {
			t.Errorf("%s, hint %q: %v", tc.file, tc.hint, err)
			continue
		}
		var names []string
		for _, c := range tb.Columns {
			names = append(names, c.Name)
		}
		if got := strings.Join(names, " "); got != tc.want || tb.NumRows != tc.rows {
			t.Errorf("%s, hint %q: columns %q, %d rows; want %q, %d", tc.file, tc.hint, got, tb.NumRows, tc.want, tc.rows)
		}
	}
}

// TestOpenJoblib: a joblib dump is read whole when the budget allows (its
// numeric arrays alias the input), else refused saying why.
func TestOpenJoblib(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/formats/joblib_df.joblib")
	if err != nil {
		t.Fatal(err)
	}
	src, err := Open(data, Options{MemoryBudget: 1 << 30})
	if err != nil || src.Rows() != 5 {
		t.Fatalf("large budget: %v", err)
	}
	src, err = Open(data, Options{MemoryBudget: int64(len(data))})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "joblib dump") {
		t.Fatalf("small budget: %v, %v; want an ErrLimit refusal naming the joblib dump", src, err)
	}
}
