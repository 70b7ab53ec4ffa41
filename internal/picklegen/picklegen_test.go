package picklegen_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/picklegen"
	"github.com/embedstream/embedstream/internal/pickleload"
)

var shapes = []picklegen.Shape{picklegen.Frame, picklegen.Records, picklegen.Matrix}

// TestLoaderReadsExpected loads every shape of several sizes with
// pickleload and requires exactly the expected canonical JSONL.
func TestLoaderReadsExpected(t *testing.T) {
	t.Parallel()
	for _, spec := range []picklegen.Spec{
		{Rows: 1, Dim: 1, Seed: 1},
		{Rows: 7, Dim: 3, Seed: 2},
		{Rows: 1000, Dim: 8, Seed: 3},
		{Rows: 3000, Dim: 384, Seed: 4},
		{Rows: 9000, Dim: 2, Seed: 5},
		{Rows: 2, Dim: 16384, Seed: 6},
	} {
		for _, shape := range shapes {
			t.Run(fmt.Sprintf("%v_n%d_d%d", shape, spec.Rows, spec.Dim), func(t *testing.T) {
				t.Parallel()
				var file, want, got bytes.Buffer
				if _, err := picklegen.Write(&file, spec.Source(), shape); err != nil {
					t.Fatal(err)
				}
				if _, err := picklegen.WriteJSONL(&want, spec.Source(), shape); err != nil {
					t.Fatal(err)
				}
				tbl, err := pickleload.Load(file.Bytes(), pickleload.Options{})
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if err := canonical.WriteTable(&got, tbl); err != nil {
					t.Fatal(err)
				}
				if err := canonicalEqual(got.Bytes(), want.Bytes()); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestExpectations checks the summaries and the streaming comparison.
func TestExpectations(t *testing.T) {
	t.Parallel()
	spec := picklegen.Spec{Rows: 5000, Dim: 16, Seed: 9}
	var frame, records bytes.Buffer
	sf, err := picklegen.WriteJSONL(&frame, spec.Source(), picklegen.Frame)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := picklegen.WriteJSONL(&records, spec.Source(), picklegen.Records)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(frame.Bytes(), records.Bytes()) || !sf.Equal(sr) {
		t.Fatal("the frame and the records of one spec have different expected lines")
	}
	if sf.Records != spec.Rows || sf.Bytes != int64(frame.Len()) {
		t.Fatalf("summary %v, want %d records of %d bytes", sf, spec.Rows, frame.Len())
	}
	if s, err := picklegen.Expect(spec.Source(), picklegen.Frame); err != nil || !s.Equal(sf) {
		t.Fatalf("Expect = %v, %v; want %v", s, err, sf)
	}
	if s, err := picklegen.Summarize(bytes.NewReader(frame.Bytes())); err != nil || !s.Equal(sf) {
		t.Fatalf("Summarize = %v, %v; want %v", s, err, sf)
	}
	if err := picklegen.Compare(bytes.NewReader(frame.Bytes()), spec.Source(), picklegen.Frame); err != nil {
		t.Fatalf("Compare of the expected lines: %v", err)
	}

	lines := strings.SplitAfter(frame.String(), "\n")
	changed := strings.Join(lines[:4000], "") + strings.Replace(lines[4000], `"R0004001"`, `"R0004002"`, 1) + strings.Join(lines[4001:], "")
	err = picklegen.Compare(strings.NewReader(changed), spec.Source(), picklegen.Frame)
	if err == nil || !strings.Contains(err.Error(), "line 4001") {
		t.Fatalf("Compare of a changed line 4001: %v", err)
	}
	short := strings.Join(lines[:100], "")
	if err := picklegen.Compare(strings.NewReader(short), spec.Source(), picklegen.Frame); err == nil {
		t.Fatal("Compare of a truncated file: no error")
	}
	if s, err := picklegen.Summarize(strings.NewReader(short)); err != nil || s.Records != 100 || s.Equal(sf) {
		t.Fatalf("Summarize of 100 lines = %v, %v", s, err)
	}
}

// TestDeterministic: a spec always gives the same bytes, and any row can
// be made alone, in any order.
func TestDeterministic(t *testing.T) {
	t.Parallel()
	spec := picklegen.Spec{Rows: 300, Dim: 32, Seed: 42}
	for _, shape := range shapes {
		var a, b bytes.Buffer
		if _, err := picklegen.Write(&a, spec.Source(), shape); err != nil {
			t.Fatal(err)
		}
		if _, err := picklegen.Write(&b, spec.Source(), shape); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("%v: two writes of one spec differ", shape)
		}
	}
	fwd, back := spec.Source(), spec.Source()
	var rows []string
	for i := range spec.Rows {
		var r picklegen.Recruit
		fwd.Fill(i, picklegen.AllFields, &r)
		rows = append(rows, fmt.Sprint(r))
	}
	var r picklegen.Recruit // reused, as writers do
	for i := spec.Rows - 1; i >= 0; i-- {
		back.Fill(i, picklegen.FieldEmbedding, &r)
		back.Fill(i, picklegen.AllFields&^picklegen.FieldEmbedding, &r)
		if got := fmt.Sprint(r); got != rows[i] {
			t.Fatalf("row %d made alone after others:\n%s\nwant\n%s", i, got, rows[i])
		}
	}
	other := picklegen.Spec{Rows: spec.Rows, Dim: spec.Dim, Seed: 43}.Source()
	other.Fill(0, picklegen.AllFields, &r)
	if fmt.Sprint(r) == rows[0] {
		t.Fatal("seeds 42 and 43 give the same first row")
	}
}

// TestGeneratedValues checks the rows against generate.py's recruit_frame:
// types, formats and distributions.
func TestGeneratedValues(t *testing.T) {
	t.Parallel()
	const n, dim = 20000, 64
	src := picklegen.Spec{Rows: n, Dim: dim, Seed: 7}.Source()
	id := regexp.MustCompile(`^R\d{7}$`)
	var (
		r                      picklegen.Recruit
		prev                   int64
		noLocation             int
		titles, companies      = map[string]bool{}, map[string]bool{}
		years                  = map[int64]int{}
		skillCounts            = map[int]int{}
		descMin, descMax, desc = math.MaxInt, 0, 0
	)
	for i := range n {
		src.Fill(i, picklegen.AllFields, &r)
		if want := fmt.Sprintf("R%07d", i+1); string(r.ID) != want || !id.Match(r.ID) {
			t.Fatalf("row %d: id %q, want %q", i, r.ID, want)
		}
		titles[r.Title], companies[r.Company] = true, true
		if !utf8.Valid(r.Description) {
			t.Fatalf("row %d: description not UTF-8", i)
		}
		k := utf8.RuneCount(r.Description)
		descMin, descMax, desc = min(descMin, k), max(descMax, k), desc+k
		if r.NoLocation {
			noLocation++
			if r.Location != "" {
				t.Fatalf("row %d: location %q and None", i, r.Location)
			}
		}
		if !slices.IsSorted(r.Skills) || len(slices.Compact(slices.Clone(r.Skills))) != len(r.Skills) {
			t.Fatalf("row %d: skills %q not sorted and distinct", i, r.Skills)
		}
		skillCounts[len(r.Skills)]++
		years[r.MinCareerYears]++
		if r.CreatedAt < prev {
			t.Fatalf("row %d: created_at %d before the previous row's %d", i, r.CreatedAt, prev)
		}
		prev = r.CreatedAt
		var norm float64
		for _, x := range r.Embedding {
			norm += float64(x) * float64(x)
		}
		if len(r.Embedding) != dim || math.Abs(norm-1) > 1e-5 {
			t.Fatalf("row %d: embedding of %d floats, norm² %v", i, len(r.Embedding), norm)
		}
	}
	if len(titles) != 15 || len(companies) != 15 {
		t.Errorf("%d titles, %d companies used; want the 15 of each pool", len(titles), len(companies))
	}
	if share := float64(noLocation) / n; share < 0.02 || share > 0.04 {
		t.Errorf("location None in %.3f of rows, want about 0.03", share)
	}
	if descMin < 200 || descMax > 400 || desc/n < 200 || desc/n > 300 {
		t.Errorf("descriptions of %d..%d code points, mean %d; want 200..400", descMin, descMax, desc/n)
	}
	for k := range skillCounts {
		if k < 1 || k > 6 {
			t.Errorf("a row has %d skills, want 1..6", k)
		}
	}
	if len(years) != 11 {
		t.Errorf("min_career_years takes %d values, want 0..10", len(years))
	}
	for y := range years {
		if y < 0 || y > 10 {
			t.Errorf("min_career_years %d, want 0..10", y)
		}
	}
	first, last := picklegen.Recruit{}, picklegen.Recruit{}
	src.Fill(0, picklegen.FieldCreatedAt, &first)
	src.Fill(n-1, picklegen.FieldCreatedAt, &last)
	const from, days = 1704067200 * 1_000_000, 600 * 86400 * 1_000_000
	if first.CreatedAt < from || last.CreatedAt >= from+days || last.CreatedAt-first.CreatedAt < days*9/10 {
		t.Errorf("created_at spans %d..%d µs, want 600 days from 2024-01-01", first.CreatedAt, last.CreatedAt)
	}
}

func TestRowsFor(t *testing.T) {
	t.Parallel()
	for _, shape := range shapes {
		const target = 5_000_000
		rows, err := picklegen.RowsFor(target, 96, 1, shape)
		if err != nil {
			t.Fatal(err)
		}
		n, err := picklegen.Write(io.Discard, picklegen.Spec{Rows: rows, Dim: 96, Seed: 1}.Source(), shape)
		if err != nil {
			t.Fatal(err)
		}
		if n < target || n > target*102/100 {
			t.Errorf("%v: %d rows make %d bytes, want %d to 2 %% more", shape, rows, n, target)
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	for _, spec := range []picklegen.Spec{{Rows: 0, Dim: 4}, {Rows: 4, Dim: 0}} {
		for _, shape := range shapes {
			if _, err := picklegen.Write(io.Discard, spec.Source(), shape); !errors.Is(err, picklegen.ErrShape) {
				t.Errorf("%v of %+v: %v, want ErrShape", shape, spec, err)
			}
		}
		if _, err := picklegen.Expect(spec.Source(), picklegen.Frame); !errors.Is(err, picklegen.ErrShape) {
			t.Errorf("Expect of %+v: %v, want ErrShape", spec, err)
		}
	}
	if _, err := picklegen.Write(io.Discard, picklegen.Spec{Rows: 1, Dim: 1}.Source(), 0); !errors.Is(err, picklegen.ErrShape) {
		t.Errorf("Write of shape 0: %v, want ErrShape", err)
	}
	if _, err := picklegen.ParseShape("parquet"); err == nil {
		t.Error("ParseShape(parquet): no error")
	}
	for _, sh := range shapes {
		if got, err := picklegen.ParseShape(sh.String()); err != nil || got != sh {
			t.Errorf("ParseShape(%q) = %v, %v", sh.String(), got, err)
		}
	}

	// A table without the recruit columns.
	tbl, err := pickleload.Load(mustWrite(t, picklegen.Spec{Rows: 3, Dim: 2, Seed: 1}, picklegen.Matrix), pickleload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := picklegen.FromTable(tbl); !errors.Is(err, picklegen.ErrShape) {
		t.Errorf("FromTable of a matrix: %v, want ErrShape", err)
	}

	// A failing writer: its error comes back.
	boom := errors.New("disk full")
	for _, shape := range shapes {
		w := &failAfter{n: 100_000, err: boom}
		if _, err := picklegen.Write(w, picklegen.Spec{Rows: 2000, Dim: 64, Seed: 1}.Source(), shape); !errors.Is(err, boom) {
			t.Errorf("%v to a failing writer: %v, want %v", shape, err, boom)
		}
	}
	w := &failAfter{n: 1 << 20, err: boom}
	if _, err := picklegen.WriteJSONL(w, picklegen.Spec{Rows: 50000, Dim: 64, Seed: 1}.Source(), picklegen.Frame); !errors.Is(err, boom) {
		t.Errorf("WriteJSONL to a failing writer: %v, want %v", err, boom)
	}
}

func mustWrite(t *testing.T, spec picklegen.Spec, shape picklegen.Shape) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := picklegen.Write(&b, spec.Source(), shape); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// failAfter accepts n bytes, then fails.
type failAfter struct {
	n   int
	err error
}

func (f *failAfter) Write(b []byte) (int, error) {
	if len(b) > f.n {
		k := f.n
		f.n = 0
		return k, f.err
	}
	f.n -= len(b)
	return len(b), nil
}

// canonicalEqual: the loader's JSONL and the expected one come from the
// same writer, so they must be equal bytes; on a difference
// canonical.Compare names the line.
func canonicalEqual(got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	if err := canonical.Compare(bytes.NewReader(got), bytes.NewReader(want)); err != nil {
		return err
	}
	return fmt.Errorf("same values, different bytes (%d vs %d)", len(got), len(want))
}
