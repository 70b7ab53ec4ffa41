package pickleload_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/pickleload"
)

// corpusDir is ../shared/pickle-corpus seen from the repository root: real
// pickles written by pandas 1.5.3 and 2.2.3 (see its README).
const corpusDir = "../../../shared/pickle-corpus"

// conformanceDir holds the expectations generate.py --conformance computed
// with pandas 1.5.3: per object <stem>.jsonl (must load exactly),
// <stem>.error.txt (must be refused: not a DataFrame/Series, or not a valid
// table) or <stem>.note.txt (no defined expectation; the outcome is logged).
const conformanceDir = "testdata/conformance"

// mustExpect lists corpus objects whose expectation must exist: with none,
// a load is only logged, so a lost expectation would pass silently. The
// SparseArray-backed ones are held to pandas' densified values
// (.sparse.to_dense()) in both the 1.5.3 and the 2.2.3 split files.
var mustExpect = []string{"sp_frame__float", "sp_series__float", "sp_series__ts"}

// conformanceCase is one corpus object and what is expected of it.
type conformanceCase struct {
	set, stem, path string
	expectDir       string // where <stem>.jsonl/.error.txt/.note.txt live
}

// conformanceOutcome is what happened to one case.
type conformanceOutcome struct {
	id      string
	exact   bool   // equal to the expected JSONL
	refused bool   // refused as its .error.txt expects
	reason  string // why not, or what it is
	jsonl   []byte // canonical output when it loaded
}

// TestConformance loads every object of the pandas-generated corpus (1.5.3
// and 2.2.3 split files) and the pandas-legacy files. DataFrames and Series
// with an expectation must equal it; 2.2.3 objects are held to the 1.5.3
// expectation of the same generator object (the generator's data is the
// same: pandas.testing.assert_frame_equal agrees on every frame and series
// readable in both, dtype units aside) and compared with the 1.5.3 table;
// non-DataFrame objects must be refused with a bad-file error. The
// summary "N/M load exactly" and every other outcome with its reason are
// logged.
func TestConformance(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(corpusDir); errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s is absent", corpusDir)
	}
	var cases []conformanceCase
	for _, set := range []string{"1.5.3", "2.2.3"} {
		paths, _ := filepath.Glob(filepath.Join(corpusDir, "pandas-generated", set, "split", "*.pkl"))
		for _, p := range paths {
			stem := strings.TrimSuffix(filepath.Base(p), ".pkl")
			cases = append(cases, conformanceCase{set: set, stem: stem, path: p, expectDir: filepath.Join(conformanceDir, "1.5.3")})
		}
	}
	legacy, _ := filepath.Glob(filepath.Join(corpusDir, "pandas-legacy", "*.pkl"))
	for _, p := range legacy {
		stem := strings.TrimSuffix(filepath.Base(p), ".pkl")
		cases = append(cases, conformanceCase{set: "legacy", stem: stem, path: p, expectDir: filepath.Join(conformanceDir, "legacy")})
	}
	if len(cases) == 0 {
		t.Fatalf("no pickles under %s", corpusDir)
	}
	for _, stem := range mustExpect {
		if _, err := os.Stat(filepath.Join(conformanceDir, "1.5.3", stem+".jsonl")); err != nil {
			t.Errorf("%s has no expectation: %v", stem, err)
		}
		for _, set := range []string{"1.5.3", "2.2.3"} {
			if !slices.ContainsFunc(cases, func(c conformanceCase) bool { return c.set == set && c.stem == stem }) {
				t.Errorf("%s/split/%s.pkl is not in the corpus", set, stem)
			}
		}
	}

	var (
		mu       sync.Mutex
		outcomes = map[string]conformanceOutcome{}
	)
	t.Run("load", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.set+"/"+c.stem, func(t *testing.T) {
				t.Parallel()
				o := runConformanceCase(t, c)
				mu.Lock()
				outcomes[o.id] = o
				mu.Unlock()
			})
		}
	})

	// Same generator object, two pandas versions: the loaded data must agree.
	for _, c := range cases {
		if c.set != "2.2.3" {
			continue
		}
		o22, o15 := outcomes["2.2.3/"+c.stem], outcomes["1.5.3/"+c.stem]
		if o22.jsonl != nil && o15.jsonl != nil {
			if err := canonical.Compare(bytes.NewReader(o22.jsonl), bytes.NewReader(o15.jsonl)); err != nil {
				t.Errorf("%s: the 2.2.3 and 1.5.3 pickles load to different data: %v", c.stem, err)
			}
		}
	}

	ids := make([]string, 0, len(outcomes))
	for id := range outcomes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var (
		exact, frames, others, othersRefused int
		notExact                             strings.Builder
	)
	for _, id := range ids {
		o := outcomes[id]
		if !isFrameOrSeries(id) {
			others++
			if o.refused {
				othersRefused++
			}
			continue
		}
		frames++
		if o.exact {
			exact++
		} else {
			notExact.WriteString("\n  " + id + ": " + o.reason)
		}
	}
	t.Logf("conformance: %d/%d DataFrames/Series load exactly; %d/%d other objects (indexes, categoricals, offsets, scalars) refused with a bad-file error; DataFrames/Series not loaded exactly:%s",
		exact, frames, othersRefused, others, notExact.String())
}

func isFrameOrSeries(id string) bool {
	s := id[strings.IndexByte(id, '/')+1:]
	return strings.HasPrefix(s, "frame__") || strings.HasPrefix(s, "series__") || strings.HasPrefix(s, "sp_") ||
		strings.HasPrefix(id, "legacy/")
}

func runConformanceCase(t *testing.T, c conformanceCase) conformanceOutcome {
	o := conformanceOutcome{id: c.set + "/" + c.stem}
	data := readFile(t, c.path)
	res := loadBounded(data, pickleload.Options{}, 60*time.Second)
	switch {
	case res.timedOut:
		t.Errorf("Load did not return within %v", res.limit)
		o.reason = "hang"
		return o
	case res.panicked != nil:
		t.Errorf("Load panicked: %v\n%s", res.panicked, res.stack)
		o.reason = "panic"
		return o
	}
	base := filepath.Join(c.expectDir, c.stem)
	note := strings.TrimSpace(string(readOptional(base + ".note.txt")))
	if spec, ok := readErrorSpec(t, base+".error.txt"); ok {
		spec.check(t, res.table, res.err)
		o.refused = res.err != nil
		o.reason = "refused as expected"
		if res.err != nil {
			o.reason += ": " + res.err.Error()
		}
		return o
	}
	if res.err != nil {
		o.reason = "error: " + res.err.Error()
		if !errors.Is(res.err, pickleload.ErrInvalid) {
			t.Errorf("error %q is not ErrInvalid", res.err)
		}
		if _, err := os.Stat(base + ".jsonl"); err == nil {
			t.Errorf("Load: %v", res.err)
		} else {
			t.Logf("no expectation (%s); Load: %v", note, res.err)
		}
		return o
	}
	if err := res.table.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
		o.reason = "invalid table: " + err.Error()
		return o
	}
	tbl := res.table
	var got bytes.Buffer
	if err := canonical.WriteTable(&got, tbl); err != nil {
		t.Errorf("canonical.WriteTable: %v", err)
		o.reason = "unwritable table: " + err.Error()
		return o
	}
	o.jsonl = got.Bytes()
	want := readOptional(base + ".jsonl")
	if want == nil {
		o.reason = "loaded (" + schemaString(res.table) + "), no expectation: " + note
		t.Logf("%s", o.reason)
		return o
	}
	if err := canonical.Compare(bytes.NewReader(got.Bytes()), bytes.NewReader(want)); err != nil {
		t.Errorf("differs from %s.jsonl: %v\nschema: %s", base, err, schemaString(res.table))
		o.reason = "differs: " + err.Error()
		return o
	}
	o.exact = true
	return o
}

func readOptional(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return b
}
