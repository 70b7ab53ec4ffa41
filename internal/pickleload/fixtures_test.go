package pickleload_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/table"
)

// The fixture corpus is written by testdata/generate.py (Python is the
// oracle); see its docstring for the file layout. Regenerate with
//
//	/usr/bin/python3 internal/pickleload/testdata/generate.py

const (
	fixturesDir = "testdata/fixtures"
	hostileDir  = "testdata/hostile"
	// randomDir holds the randomized differential corpus: small random
	// tables in random shapes and protocols, expectations by Python.
	randomDir = "testdata/random"
)

// TestFixtures loads every fixture and checks it against its expectation:
// the canonical JSONL (and schema) Python computed, or the error class and
// message substring.
func TestFixtures(t *testing.T) {
	t.Parallel()
	for _, name := range fixtureNames(t, fixturesDir) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkFixture(t, fixturesDir, name, pickleload.Options{})
		})
	}
}

// TestRandomCorpus checks the randomized differential corpus like the
// fixtures.
func TestRandomCorpus(t *testing.T) {
	t.Parallel()
	for _, name := range fixtureNames(t, randomDir) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkFixture(t, randomDir, name, pickleload.Options{})
		})
	}
}

// TestSamples loads the shipped samples in data/ and checks what the
// recruit and candidate domains need of them.
func TestSamples(t *testing.T) {
	t.Parallel()
	for _, s := range []struct{ file, id, ts string }{
		{"processed_recruitment_data.pkl", "recruit_id", "created_at"},
		{"processed_candidate_data.pkl", "candidate_id", "updated_at"},
	} {
		t.Run(s.file, func(t *testing.T) {
			t.Parallel()
			tbl, err := pickleload.LoadFile(filepath.Join("..", "..", "data", s.file), pickleload.Options{})
			if err != nil {
				t.Fatalf("LoadFile: %v", err)
			}
			if err := tbl.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tbl.NumRows != 3000 {
				t.Errorf("rows = %d, want 3000", tbl.NumRows)
			}
			for _, want := range []struct {
				name string
				typ  table.Type
				dim  int
			}{{"embedding", table.TypeFloatVector, 384}, {"skills", table.TypeStringList, 0}, {s.ts, table.TypeTimestamp, 0}} {
				c := tbl.Column(want.name)
				switch {
				case c == nil:
					t.Errorf("no column %q", want.name)
				case c.Type != want.typ || c.VectorDim != want.dim:
					t.Errorf("column %q: %s dim %d, want %s dim %d", want.name, c.Type, c.VectorDim, want.typ, want.dim)
				}
			}
			if c := tbl.Column(s.id); c == nil || len(c.Nulls) != 0 {
				t.Errorf("id column %q missing or with nulls", s.id)
			}
		})
	}
}

// fixtureNames lists the <name>.pkl stems in dir.
func fixtureNames(t testing.TB, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.pkl"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in %s (err %v)", dir, err)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = strings.TrimSuffix(filepath.Base(p), ".pkl")
	}
	sort.Strings(names)
	return names
}

// checkFixture loads dir/name.pkl and checks it against name.jsonl (plus
// name.schema.json when present) or name.error.txt.
func checkFixture(t *testing.T, dir, name string, opts pickleload.Options) {
	t.Helper()
	data := readFile(t, filepath.Join(dir, name+".pkl"))
	res := loadBounded(data, opts, 60*time.Second)
	if res.panicked != nil {
		t.Fatalf("Load panicked: %v\n%s", res.panicked, res.stack)
	}
	if res.timedOut {
		t.Fatalf("Load did not return within %v", res.limit)
	}
	base := filepath.Join(dir, name)
	if spec, ok := readErrorSpec(t, base+".error.txt"); ok {
		spec.check(t, res.table, res.err)
		return
	}
	if res.err != nil {
		t.Fatalf("Load: %v", res.err)
	}
	checkTable(t, res.table, base)
}

// checkTable validates tbl and compares it with base.jsonl and, when
// present, base.schema.json.
func checkTable(t *testing.T, tbl *table.Table, base string) {
	t.Helper()
	if err := tbl.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if _, err := os.Stat(base + ".schema.json"); err == nil {
		checkSchema(t, tbl, base+".schema.json")
	}
	compareJSONL(t, tbl, base+".jsonl")
}

// compareJSONL writes tbl as canonical JSONL and compares it with the file
// at want.
func compareJSONL(t *testing.T, tbl *table.Table, want string) {
	t.Helper()
	var got bytes.Buffer
	if err := canonical.WriteTable(&got, tbl); err != nil {
		t.Fatalf("canonical.WriteTable: %v", err)
	}
	wf := readFile(t, want)
	if err := canonical.Compare(bytes.NewReader(got.Bytes()), bytes.NewReader(wf)); err != nil {
		t.Errorf("output differs from %s: %v\nschema: %s\nfirst line got:  %.300s\nfirst line want: %.300s",
			want, err, schemaString(tbl), firstLine(got.Bytes()), firstLine(wf))
	}
}

// expectedField is one entry of a <name>.schema.json file.
type expectedField struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	VectorDim int    `json:"vector_dim"`
	Nullable  *bool  `json:"nullable"` // present only where the column holds nulls
}

func checkSchema(t *testing.T, tbl *table.Table, path string) {
	t.Helper()
	var want []expectedField
	if err := json.Unmarshal(readFile(t, path), &want); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	got := tbl.Schema()
	if len(got) != len(want) {
		t.Errorf("schema: got %s, want %d fields %v", schemaString(tbl), len(want), want)
		return
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.Name || g.Type.String() != w.Type || g.VectorDim != w.VectorDim {
			t.Errorf("field %d: got %s %s dim %d, want %s %s dim %d", i, g.Name, g.Type, g.VectorDim, w.Name, w.Type, w.VectorDim)
		}
		if w.Nullable != nil && g.Nullable != *w.Nullable {
			t.Errorf("field %q: nullable = %v, want %v", w.Name, g.Nullable, *w.Nullable)
		}
	}
}

func schemaString(tbl *table.Table) string {
	if tbl == nil {
		return "<nil table>"
	}
	var b strings.Builder
	b.WriteString("[")
	for i, f := range tbl.Schema() {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", f.Name, f.Type)
		if f.VectorDim > 0 {
			fmt.Fprintf(&b, "(%d)", f.VectorDim)
		}
		if f.Nullable {
			b.WriteString(" null")
		}
	}
	fmt.Fprintf(&b, "] rows=%d", tbl.NumRows)
	return b.String()
}

// errorSpec is a <name>.error.txt: the accepted error classes (line 1,
// separated by "|") and a substring the message must contain (line 2).
type errorSpec struct {
	classes   []string
	substring string
}

var errorClasses = map[string]error{
	"invalid":     pickleload.ErrInvalid,
	"refused":     pickleload.ErrRefused,
	"limit":       pickleload.ErrLimit,
	"unsupported": pickleload.ErrUnsupported,
	"malformed":   pickleload.ErrMalformed,
}

// maxErrorLen bounds an error message: it lands in logs, job status and
// dead letters, so it must quote values briefly.
const maxErrorLen = 2048

// readErrorSpec reads path; ok is false when it does not exist.
func readErrorSpec(t testing.TB, path string) (errorSpec, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return errorSpec{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	spec := errorSpec{classes: strings.Split(strings.TrimSpace(lines[0]), "|")}
	if len(lines) > 1 {
		spec.substring = strings.TrimRight(lines[1], "\r")
	}
	for _, c := range spec.classes {
		if errorClasses[c] == nil {
			t.Fatalf("%s: unknown error class %q", path, c)
		}
	}
	return spec, true
}

// check asserts that err is a bad-file error of one of the spec's classes
// whose message holds the substring.
func (s errorSpec) check(t testing.TB, tbl *table.Table, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("Load succeeded (%s), want an error of class %s containing %q", schemaString(tbl), strings.Join(s.classes, "|"), s.substring)
	}
	if !errors.Is(err, pickleload.ErrInvalid) {
		t.Errorf("error %.300q does not satisfy errors.Is(err, ErrInvalid)", err)
	}
	matched := false
	for _, c := range s.classes {
		if errors.Is(err, errorClasses[c]) {
			matched = true
		}
	}
	if !matched {
		t.Errorf("error %.300q is not of class %s", err, strings.Join(s.classes, "|"))
	}
	if !strings.Contains(err.Error(), s.substring) {
		t.Errorf("error %.300q does not contain %q", err, s.substring)
	}
	var pe *pickleload.Error
	if !errors.As(err, &pe) {
		t.Errorf("error %.300q is not a *pickleload.Error", err)
	}
	if strings.ContainsAny(err.Error(), "\n") {
		t.Errorf("error message spans lines: %.300q", err)
	}
	if n := len(err.Error()); n > maxErrorLen {
		t.Errorf("error message is %d bytes long, want at most %d: %.300q…", n, maxErrorLen, err)
	}
}

// loadResult is the outcome of one bounded Load.
type loadResult struct {
	table    *table.Table
	err      error
	panicked any
	stack    string
	timedOut bool
	limit    time.Duration
	// allocated is the number of bytes allocated while loading (the
	// runtime's cumulative TotalAlloc delta; meaningful only when nothing
	// else runs).
	allocated uint64
}

// loadBounded runs Load in a goroutine and waits for it at most limit. A
// Load that does not return is left running (the test fails anyway).
func loadBounded(data []byte, opts pickleload.Options, limit time.Duration) loadResult {
	limit *= raceSlowdown
	type outcome struct {
		t     *table.Table
		err   error
		p     any
		stack string
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() {
			if p := recover(); p != nil {
				buf := make([]byte, 16<<10)
				o.p, o.stack = p, string(buf[:runtime.Stack(buf, false)])
			}
			done <- o
		}()
		o.t, o.err = pickleload.Load(data, opts)
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case o := <-done:
		runtime.ReadMemStats(&after)
		return loadResult{table: o.t, err: o.err, panicked: o.p, stack: o.stack, limit: limit,
			allocated: after.TotalAlloc - before.TotalAlloc}
	case <-timer.C:
		return loadResult{timedOut: true, limit: limit}
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}
