package dataset_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/container"
	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/picklegen"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/table"
)

// formats holds issue 13's real-world files with CPython's reading of
// each (<file>.jsonl) or the refusal expected (<file>.error.txt: a class
// line, then a substring of the message); see
// internal/pickleload/testdata/README.md.
var formats = filepath.Join("..", "pickleload", "testdata", "formats")

// formatsLimit is the MAX_FILE_BYTES the fixtures are read with: every
// bomb unwraps past it.
const formatsLimit = 4 << 20

// formatClasses maps an error.txt class to the sentinels of either
// package.
var formatClasses = map[string][]error{
	"invalid":     {pickleload.ErrInvalid, container.ErrInvalid},
	"notreadable": {container.ErrNotReadable},
	"unsupported": {pickleload.ErrUnsupported, container.ErrUnsupported},
	"refused":     {pickleload.ErrRefused, container.ErrRefused},
	"limit":       {pickleload.ErrLimit, container.ErrLimit},
	"malformed":   {pickleload.ErrMalformed, container.ErrMalformed},
}

// formatFixtures lists the fixture files of formats (not their
// expectations).
func formatFixtures(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(formats)
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
		t.Fatalf("only %d fixtures in %s", len(names), formats)
	}
	return names
}

// TestFormatsThroughTheStage loads every real-world file through the
// dataset stage, from the data directory and from the object store: the
// content decides how it is read (names do not), the table is CPython's
// reading of it, the hash is the file's as stored, the stats say what the
// file is, and refusals are the expected bad-file errors. No scratch file
// is left behind.
func TestFormatsThroughTheStage(t *testing.T) {
	t.Parallel()
	scratch := t.TempDir()
	store := objects{}
	names := formatFixtures(t)
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(formats, name))
		if err != nil {
			t.Fatal(err)
		}
		store[name] = b
	}
	l := dataset.NewLoader(dataset.Config{DataDir: formats, Objects: store, ScratchDir: scratch, Limits: dataset.Limits{MaxFileBytes: formatsLimit}})
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			base := filepath.Join(formats, name)
			spec, refused := readErrorSpec(t, base+".error.txt")
			var tt tester = t
			sum := sha256.Sum256(store[name])
			for _, ref := range []dataset.Ref{{Origin: dataset.InDataDir, Name: name}, {Origin: dataset.InObjectStore, Name: name}} {
				d, st, err := l.Load(context.Background(), ref)
				if refused {
					if d != nil {
						d.Release()
					}
					spec.check(tt, err)
					continue
				}
				if err != nil {
					tt.Fatalf("%v: %v", ref.Origin, err)
				}
				if st.SHA256 != hex.EncodeToString(sum[:]) || st.FileBytes != int64(len(store[name])) || st.Format == "" || st.DataBytes <= 0 {
					tt.Errorf("%v: stats %+v", ref.Origin, st)
				}
				tbl, err := d.Table()
				var got bytes.Buffer
				if err == nil {
					err = canonical.WriteTable(&got, tbl)
				}
				d.Release()
				if err != nil {
					tt.Fatal(err)
				}
				want, err := os.ReadFile(base + ".jsonl")
				if err != nil {
					tt.Fatal(err)
				}
				if err := canonical.Compare(bytes.NewReader(got.Bytes()), bytes.NewReader(want)); err != nil {
					tt.Errorf("%v: differs from CPython's reading: %v", ref.Origin, err)
				}
			}
		})
	}
	if n := l.Held(); n != 0 {
		t.Errorf("%d datasets held after their release", n)
	}
	if ents, err := os.ReadDir(scratch); err != nil || len(ents) != 0 {
		t.Errorf("scratch directory holds %v (%v)", ents, err)
	}
}

// tester is what the formats test reports through.
type tester interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Fatal(args ...any)
}

// formatErrorSpec is an expected refusal.
type formatErrorSpec struct {
	classes   []string
	substring string
}

func readErrorSpec(t *testing.T, path string) (formatErrorSpec, bool) {
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
	return s, true
}

func (s formatErrorSpec) check(t tester, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("loaded, want an error of class %s containing %q", strings.Join(s.classes, "|"), s.substring)
	}
	if !errors.Is(err, pickleload.ErrInvalid) && !errors.Is(err, container.ErrInvalid) {
		t.Errorf("error %.300q is not a bad-file error", err)
	}
	matched := false
	for _, c := range s.classes {
		for _, sentinel := range formatClasses[c] {
			matched = matched || errors.Is(err, sentinel)
		}
	}
	if !matched {
		t.Errorf("error %.300q is not of class %s", err, strings.Join(s.classes, "|"))
	}
	if !strings.Contains(err.Error(), s.substring) {
		t.Errorf("error %.300q does not contain %q", err, s.substring)
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// records writes spec's records pickle (a list of dicts, protocol 4).
func records(t *testing.T, spec picklegen.Spec) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if _, err := picklegen.WriteRecords(w, spec.Source()); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// jsonl returns the canonical JSONL of every row of src, read in windows
// of at most n rows.
func jsonl(t *testing.T, src table.Source, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	for lo := 0; lo < src.Rows(); lo += n {
		w, err := src.Window(lo, min(lo+n, src.Rows()), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := canonical.WriteTable(&buf, w); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestMemoryBudget: a file whose table needs more than the budget is read
// in windows, to the same rows, also when it comes compressed; one the
// windows cannot read is refused with ErrOverBudget, permanent, naming
// the budget and what to change; without a budget both load whole.
func TestMemoryBudget(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := records(t, picklegen.Spec{Rows: 6000, Dim: 8, Seed: 1})
	writeFile(t, dir, "r.pkl", data)
	writeFile(t, dir, "r.pkl.gz", gzipped(t, data))
	// a DUP (pickle.dump never writes one) before the list: the windows
	// cannot replay the file
	dup := append([]byte{0x80, 4, 'N', '2', '0', '0'}, data[2:]...)
	writeFile(t, dir, "dup.pkl", dup)

	whole := dataset.NewLoader(dataset.Config{DataDir: dir})
	d, _, err := whole.Load(context.Background(), dataset.Ref{Name: "r.pkl"})
	if err != nil {
		t.Fatal(err)
	}
	want := jsonl(t, d.Source(), d.Rows())
	d.Release()

	const advice = "raise MEMORY_LIMIT or lower WORKER_CONCURRENCY"
	budget := dataset.NewLoader(dataset.Config{DataDir: dir, ScratchDir: t.TempDir(), Limits: dataset.Limits{MemoryBudget: 1 << 20, BudgetAdvice: advice}})
	for _, name := range []string{"r.pkl", "r.pkl.gz"} {
		d, st, err := budget.Load(context.Background(), dataset.Ref{Name: name})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !st.Lazy || d.Source().WindowRows() <= 0 {
			t.Errorf("%s: not read in windows under a 1 MiB budget: %+v", name, st)
		}
		if got := jsonl(t, d.Source(), 777); !bytes.Equal(got, want) {
			t.Errorf("%s: windows differ from the whole table", name)
		}
		d.Release()
	}

	_, _, err = budget.Load(context.Background(), dataset.Ref{Name: "dup.pkl"})
	if !errors.Is(err, dataset.ErrOverBudget) || !errors.Is(err, pickleload.ErrLimit) || !errors.Is(err, pickleload.ErrInvalid) ||
		!strings.Contains(err.Error(), "1 MiB") || !strings.Contains(err.Error(), advice) {
		t.Fatalf("file over the budget: %v, want ErrOverBudget naming the budget and %q", err, advice)
	}
	if d, _, err := whole.Load(context.Background(), dataset.Ref{Name: "dup.pkl"}); err != nil {
		t.Fatalf("without a budget: %v", err)
	} else {
		d.Release()
	}
}

// TestMappedOrRead: with a memory budget, files and objects are mapped
// (the pool stays empty); without one, they are read into pooled buffers,
// which the next load reuses. Both read the same rows.
func TestMappedOrRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := bigPickle(25000, "m")
	writeFile(t, dir, "m.pkl", data)
	store := objects{"m": data}
	for _, budget := range []int64{0, 1 << 30} {
		l := dataset.NewLoader(dataset.Config{DataDir: dir, Objects: store, ScratchDir: t.TempDir(), Limits: dataset.Limits{MemoryBudget: budget}})
		for _, ref := range []dataset.Ref{{Name: "m.pkl"}, {Origin: dataset.InObjectStore, Name: "m"}} {
			d, st, err := l.Load(context.Background(), ref)
			if err != nil {
				t.Fatal(err)
			}
			if d.Rows() != 25000 || st.Lazy || st.FileBytes != int64(len(data)) {
				t.Errorf("budget %d, %+v: %d rows, stats %+v", budget, ref, d.Rows(), st)
			}
			d.Release()
			if n := l.PooledBuffers(); (n > 0) != (budget == 0) {
				t.Errorf("budget %d, %+v: %d pooled buffers", budget, ref, n)
			}
		}
		l.FreeBuffers()
	}
}

// TestScratchFiles: objects and containers are spooled to scratch files
// that are unlinked at once (nothing shows in the directory while the
// dataset is held); CleanScratch removes what a killed process left, and
// nothing else.
func TestScratchFiles(t *testing.T) {
	t.Parallel()
	scratch := t.TempDir()
	data := bigPickle(30000, "s")
	l := dataset.NewLoader(dataset.Config{ScratchDir: scratch, Objects: objects{"o.pkl.gz": gzipped(t, data)}})
	d, st, err := l.Load(context.Background(), dataset.Ref{Origin: dataset.InObjectStore, Name: "o.pkl.gz"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Format != "gzip-compressed pickle" || st.DataBytes != int64(len(data)) || d.Rows() != 30000 {
		t.Fatalf("stats %+v, %d rows", st, d.Rows())
	}
	if ents, _ := os.ReadDir(scratch); len(ents) != 0 {
		t.Fatalf("scratch files visible while the dataset is held: %v", ents)
	}
	d.Release()

	for _, n := range []string{"embedstream-spool-123", "embedstream-spool-x"} {
		writeFile(t, scratch, n, []byte("left by a killed worker"))
	}
	writeFile(t, scratch, "keep.pkl", []byte("someone else's"))
	if n, err := dataset.CleanScratch(scratch); n != 2 || err != nil {
		t.Fatalf("CleanScratch = %d, %v; want 2 removed", n, err)
	}
	if ents, _ := os.ReadDir(scratch); len(ents) != 1 || ents[0].Name() != "keep.pkl" {
		t.Fatalf("after CleanScratch: %v", ents)
	}
	if _, err := dataset.CleanScratch(filepath.Join(scratch, "none")); err == nil {
		t.Fatal("CleanScratch of a missing directory succeeded")
	}
	// a scratch directory that cannot be written is an error, not a crash
	bad := dataset.NewLoader(dataset.Config{ScratchDir: filepath.Join(scratch, "none"), Objects: objects{"o": data}, Limits: dataset.Limits{MemoryBudget: 1 << 30}})
	if _, _, err := bad.Load(context.Background(), dataset.Ref{Origin: dataset.InObjectStore, Name: "o"}); err == nil || !strings.Contains(err.Error(), "SCRATCH_DIR") {
		t.Fatalf("missing scratch directory: %v", err)
	}
}
