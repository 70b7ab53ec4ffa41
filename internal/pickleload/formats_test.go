package pickleload_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/container"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/table"
)

// formatsDir holds issue 13's real-world files, written by
//
//	/usr/bin/python3 internal/pickleload/testdata/generate.py --formats
//
// each with CPython's own reader's output (pandas.read_pickle, joblib.load,
// numpy.load) as its expectation: <file>.jsonl and <file>.schema.json, or
// <file>.error.txt; <file>.pickled is the pickle of the same object, whose
// table must be the file's.
const formatsDir = "testdata/formats"

// formatsLimit is the unwrapped-size limit (MAX_FILE_BYTES) the fixtures
// are loaded with: every bomb decompresses past it.
const formatsLimit = 4 << 20

// formatsAlloc bounds what loading one refused fixture may allocate: the
// limit, the decoders' windows and buffers, and slack.
const formatsAlloc = 96 << 20

// formatClasses maps an error.txt class to the sentinels of either package.
var formatClasses = map[string][]error{
	"invalid":     {pickleload.ErrInvalid, container.ErrInvalid},
	"notreadable": {container.ErrNotReadable},
	"unsupported": {pickleload.ErrUnsupported, container.ErrUnsupported},
	"refused":     {pickleload.ErrRefused, container.ErrRefused},
	"limit":       {pickleload.ErrLimit, container.ErrLimit},
	"malformed":   {pickleload.ErrMalformed, container.ErrMalformed},
}

// loadAny reads a file as the worker will: identify it by its first
// bytes, unwrap a container (at most limit bytes), then load the pickle,
// .npy or .npz.
func loadAny(ctx context.Context, data []byte, limit int64) (*table.Table, error) {
	f, err := container.Identify(data[:min(len(data), container.SniffLen)])
	if err != nil {
		return nil, err
	}
	if f.Container() {
		var buf bytes.Buffer
		res, err := container.Unwrap(ctx, bytes.NewReader(data), int64(len(data)), &buf, container.Options{MaxBytes: limit})
		if err != nil {
			return nil, err
		}
		if res.Size != int64(buf.Len()) {
			return nil, errors.New("Result.Size differs from the bytes written")
		}
		data, f = buf.Bytes(), res.Inner
	}
	switch f {
	case container.NPY:
		return pickleload.LoadNPY(data, pickleload.Options{})
	case container.NPZ:
		return pickleload.LoadNPZ(data, pickleload.NPZOptions{MaxBytes: limit})
	}
	return pickleload.Load(data, pickleload.Options{})
}

// formatFixtures lists the fixture files of formatsDir (not their
// expectations).
func formatFixtures(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(formatsDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasSuffix(n, ".jsonl") || strings.HasSuffix(n, ".schema.json") || strings.HasSuffix(n, ".error.txt") || strings.HasSuffix(n, ".pickled") {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) < 50 {
		t.Fatalf("only %d fixtures in %s", len(names), formatsDir)
	}
	return names
}

// TestFormats loads every real-world file and checks it against CPython's
// reading of it; refused files must fail with the expected class and
// message, within bounded time and allocation. Not parallel: the
// allocation bound reads the runtime's global counter.
func TestFormats(t *testing.T) {
	for _, name := range formatFixtures(t) {
		t.Run(name, func(t *testing.T) {
			data := readFile(t, filepath.Join(formatsDir, name))
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			tbl, err := boundedLoad(t, func() (*table.Table, error) { return loadAny(context.Background(), data, formatsLimit) })
			runtime.ReadMemStats(&after)
			base := filepath.Join(formatsDir, name)
			if spec, ok := readErrorSpec2(t, base+".error.txt"); ok {
				spec.check(t, tbl, err)
				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > formatsAlloc {
					t.Errorf("refusing it allocated %d bytes, want at most %d", alloc, formatsAlloc)
				}
				return
			}
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			checkTable(t, tbl, base)
			if _, err := os.Stat(base + ".pickled"); err == nil {
				twin, err := pickleload.Load(readFile(t, base+".pickled"), pickleload.Options{})
				if err != nil {
					t.Fatalf("Load of the pickled twin: %v", err)
				}
				sameTable(t, tbl, twin)
			}
		})
	}
}

// boundedLoad runs load, failing the test if it does not return in time.
func boundedLoad(t *testing.T, load func() (*table.Table, error)) (*table.Table, error) {
	t.Helper()
	type res struct {
		t   *table.Table
		err error
	}
	done := make(chan res, 1)
	go func() {
		tbl, err := load()
		done <- res{tbl, err}
	}()
	limit := 60 * time.Second * raceSlowdown
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.t, r.err
	case <-timer.C:
		t.Fatalf("load did not return within %v", limit)
		return nil, nil
	}
}

// sameTable asserts that two tables have the same schema and canonical
// JSONL, exactly.
func sameTable(t *testing.T, got, want *table.Table) {
	t.Helper()
	if g, w := schemaString(got), schemaString(want); g != w {
		t.Errorf("schema %s, the pickled twin's %s", g, w)
	}
	var a, b bytes.Buffer
	if err := canonical.WriteTable(&a, got); err != nil {
		t.Fatal(err)
	}
	if err := canonical.WriteTable(&b, want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("canonical JSONL differs from the pickled twin's:\n got: %.300s\nwant: %.300s", a.Bytes(), b.Bytes())
	}
}

// formatErrorSpec is an error.txt of formatsDir (classes of either
// package).
type formatErrorSpec struct {
	classes   []string
	substring string
}

func readErrorSpec2(t testing.TB, path string) (formatErrorSpec, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return formatErrorSpec{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	s := formatErrorSpec{classes: strings.Split(strings.TrimSpace(lines[0]), "|")}
	if len(lines) > 1 {
		s.substring = strings.TrimRight(lines[1], "\r")
	}
	for _, c := range s.classes {
		if formatClasses[c] == nil {
			t.Fatalf("%s: unknown error class %q", path, c)
		}
	}
	return s, true
}

func (s formatErrorSpec) check(t testing.TB, tbl *table.Table, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("load succeeded (%s), want an error of class %s containing %q", schemaString(tbl), strings.Join(s.classes, "|"), s.substring)
	}
	if !errors.Is(err, pickleload.ErrInvalid) && !errors.Is(err, container.ErrInvalid) {
		t.Errorf("error %.300q is not a bad-file error of either package", err)
	}
	matched := false
	for _, c := range s.classes {
		for _, sentinel := range formatClasses[c] {
			if errors.Is(err, sentinel) {
				matched = true
			}
		}
	}
	if !matched {
		t.Errorf("error %.300q is not of class %s", err, strings.Join(s.classes, "|"))
	}
	if !strings.Contains(err.Error(), s.substring) {
		t.Errorf("error %.300q does not contain %q", err, s.substring)
	}
	if strings.ContainsAny(err.Error(), "\n") || len(err.Error()) > maxErrorLen {
		t.Errorf("error message spans lines or exceeds %d bytes: %.300q", maxErrorLen, err)
	}
	t.Logf("refused: %v", err)
}
