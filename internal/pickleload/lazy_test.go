package pickleload_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/table"
)

// The lazy path must give Load's table (schema, values, null positions)
// or Load's error (kind, column and row; for limits, the kind). These
// tests force it with tiny sizes on every pickle the repository has.

// lazyTunings are the sizes the differential tests force: tiny lists are
// read in parts, windows of 1 to 7 rows.
var lazyTunings = []pickleload.LazyTuning{
	{MinItems: 2, Step: 2, WindowRows: 3, PassItems: 5, KeepIdle: true},
	{MinItems: 2, Step: 2, WindowRows: 3, PassItems: 5},
	{MinItems: 5, Step: 3, WindowRows: 7, PassItems: 4},
	{MinItems: 3, Step: 1, WindowRows: 1, PassItems: 1},
	{MinItems: 2, Step: 4, WindowRows: 2, PassItems: 9},
}

// bigInputTunings are for inputs of more than 1 MiB.
var bigInputTunings = []pickleload.LazyTuning{
	{MinItems: 2, Step: 7, WindowRows: 13, PassItems: 61},
	{MinItems: 100, Step: 64, WindowRows: 500, PassItems: 300},
}

// differentialInputs lists every pickle of the fixtures, hostile, random
// and pandas corpora and data/.
func differentialInputs(t testing.TB) []string {
	t.Helper()
	var paths []string
	for _, g := range []string{
		fixturesDir + "/*.pkl", hostileDir + "/*.pkl", randomDir + "/*.pkl", "../../data/*.pkl",
		corpusDir + "/pandas-generated/*/split/*.pkl", corpusDir + "/pandas-legacy/*.pkl",
	} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	paths = append(paths, formatsPickles(t)...) // joblib dumps, appended pickles, dicts keyed by id
	if len(paths) < 500 {
		t.Fatalf("only %d inputs", len(paths))
	}
	return paths
}

// TestLazyMatchesLoad: for every input and tuning, the concatenation of the
// lazy windows equals Load's table, or both fail alike.
func TestLazyMatchesLoad(t *testing.T) {
	t.Parallel()
	paths := differentialInputs(t)
	var mu sync.Mutex
	lazyFiles := map[string]bool{}
	for _, p := range paths {
		name := strings.TrimPrefix(p, "../")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data := readFile(t, p)
			tunings := lazyTunings
			if len(data) > 1<<20 {
				tunings = bigInputTunings // tiny windows would take minutes
			}
			for i, tune := range tunings {
				lazy := checkLazy(t, fmt.Sprintf("tuning %d", i), data, tune)
				if lazy {
					mu.Lock()
					lazyFiles[p] = true
					mu.Unlock()
				}
			}
		})
	}
	t.Cleanup(func() {
		t.Logf("%d of %d inputs were read lazily", len(lazyFiles), len(paths))
		// the shapes that get large must all be read lazily
		for _, must := range []string{"recruit_small_df", "recruit_small_records", "candidate_small_df", "candidate_small_records",
			"records_protocol4", "records_protocol2", "df_protocol5", "df_protocol0", "series_str_index", "processed_recruitment_data"} {
			found := false
			for p := range lazyFiles {
				found = found || strings.TrimSuffix(filepath.Base(p), ".pkl") == must
			}
			if !found {
				t.Errorf("%s was not read lazily", must)
			}
		}
	})
}

// checkLazy compares the lazy path with Load on data; it reports whether
// the lazy path was taken.
func checkLazy(t *testing.T, what string, data []byte, tune pickleload.LazyTuning) bool {
	t.Helper()
	want, werr := pickleload.Load(data, pickleload.Options{})
	src, lazy, err := pickleload.OpenForced(data, pickleload.Options{}, tune)
	if werr != nil || err != nil {
		sameError(t, what, werr, err)
		return lazy
	}
	if pickleload.IsRecoveredPanic(err) {
		t.Fatalf("%s: the lazy path panicked: %v", what, err)
	}
	if got, exp := fmt.Sprint(src.Schema()), fmt.Sprint(want.Schema()); got != exp || src.Rows() != want.NumRows {
		t.Fatalf("%s: schema %s rows %d, want %s rows %d", what, got, src.Rows(), exp, want.NumRows)
	}
	wantJSON := jsonlOf(t, want)
	var got bytes.Buffer
	n := max(1, tune.WindowRows)
	for lo := 0; lo < src.Rows(); lo += n {
		w, err := src.Window(lo, min(src.Rows(), lo+n), nil)
		if err != nil {
			t.Fatalf("%s: Window(%d): %v", what, lo, err)
		}
		got.Write(jsonlOf(t, w))
	}
	if got.String() != string(wantJSON) {
		t.Fatalf("%s: windows differ from Load\ngot  %.400s\nwant %.400s", what, got.String(), wantJSON)
	}
	if !lazy {
		return false
	}
	// out of order, concurrently, column subsets
	r := rand.New(rand.NewPCG(uint64(len(data)), uint64(tune.MinItems)))
	var wg sync.WaitGroup
	for k := range 6 {
		lo := r.IntN(src.Rows() + 1)
		hi := lo + r.IntN(src.Rows()-lo+1)
		var cols []int
		if k%2 == 1 {
			cols = r.Perm(len(want.Columns))[:r.IntN(len(want.Columns)+1)]
		}
		wg.Go(func() {
			w, err := src.Window(lo, hi, cols)
			if err != nil {
				t.Errorf("%s: Window(%d, %d, %v): %v", what, lo, hi, cols, err)
				return
			}
			exp := want.Slice(lo, hi)
			if cols != nil {
				sub := &table.Table{NumRows: hi - lo}
				for _, c := range cols {
					sub.Columns = append(sub.Columns, exp.Columns[c])
				}
				exp = sub
			}
			if g, e := jsonlOf(t, w), jsonlOf(t, exp); !bytes.Equal(g, e) || fmt.Sprint(w.Schema()) != fmt.Sprint(exp.Schema()) {
				t.Errorf("%s: Window(%d, %d, %v) differs\ngot  %.300s\nwant %.300s", what, lo, hi, cols, g, e)
			}
		})
	}
	wg.Wait()
	return true
}

func jsonlOf(t testing.TB, tb *table.Table) []byte {
	t.Helper()
	if err := tb.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	var b bytes.Buffer
	if err := canonical.WriteTable(&b, tb); err != nil {
		t.Fatalf("canonical.WriteTable: %v", err)
	}
	return b.Bytes()
}

// sameError wants both errors, of the same kind, column and row (for a
// limit, the kind only: the lazy path's budgets are counted per window).
func sameError(t *testing.T, what string, want, got error) {
	t.Helper()
	if (want == nil) != (got == nil) {
		t.Fatalf("%s: Load error %v, lazy error %v", what, want, got)
	}
	var we, ge *pickleload.Error
	if !errors.As(want, &we) || !errors.As(got, &ge) {
		t.Fatalf("%s: errors are not *pickleload.Error: %v / %v", what, want, got)
	}
	if pickleload.IsRecoveredPanic(got) {
		t.Fatalf("%s: the lazy path panicked: %v", what, got)
	}
	if we.Kind != ge.Kind {
		t.Fatalf("%s: error kinds differ\nload %v\nlazy %v", what, want, got)
	}
	if we.Kind == pickleload.ErrLimit {
		return
	}
	if we.Column != ge.Column || we.Row != ge.Row || we.Offset != ge.Offset {
		t.Fatalf("%s: errors differ\nload %v\nlazy %v", what, want, got)
	}
}

var _ = os.ReadFile

// FuzzLazy: on arbitrary input the lazy path, forced with tiny sizes, gives
// Load's table or Load's error, and never panics.
//
//	go test ./internal/pickleload -run '^$' -fuzz FuzzLazy -fuzztime 60s
func FuzzLazy(f *testing.F) {
	for _, dir := range []string{fixturesDir, hostileDir, randomDir} {
		for _, name := range fixtureNames(f, dir) {
			if data := readFile(f, filepath.Join(dir, name+".pkl")); len(data) <= 64<<10 {
				f.Add(data)
			}
		}
	}
	for _, seed := range formatsSeeds(f) {
		f.Add(seed)
	}
	opts := pickleload.Options{MaxDecodedBytes: 64 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := pickleload.Load(data, opts)
		// tiny windows, but not so many on a large input that windows
		// sharing every earlier value (a preamble of all of them) take
		// quadratic time
		tune := pickleload.LazyTuning{MinItems: 2 + len(data)%3, Step: 1 + len(data)%4,
			WindowRows: max(1+len(data)%7, len(data)/512), PassItems: max(1+len(data)%5, len(data)/512)}
		src, _, err := pickleload.OpenForced(data, opts, tune)
		if pickleload.IsRecoveredPanic(err) {
			t.Fatalf("the lazy path panicked: %v", err)
		}
		if werr != nil || err != nil {
			sameError(t, "fuzz", werr, err)
			return
		}
		if g, w := fmt.Sprint(src.Schema()), fmt.Sprint(want.Schema()); g != w || src.Rows() != want.NumRows {
			t.Fatalf("schema %s rows %d, want %s rows %d", g, src.Rows(), w, want.NumRows)
		}
		var got bytes.Buffer
		for lo := 0; lo < src.Rows(); lo += tune.WindowRows {
			w, err := src.Window(lo, min(src.Rows(), lo+tune.WindowRows), nil)
			if err != nil {
				t.Fatalf("Window(%d): %v", lo, err)
			}
			got.Write(jsonlOf(t, w))
		}
		if exp := jsonlOf(t, want); !bytes.Equal(got.Bytes(), exp) {
			t.Fatalf("windows differ from Load\ngot  %.400s\nwant %.400s", got.Bytes(), exp)
		}
	})
}
