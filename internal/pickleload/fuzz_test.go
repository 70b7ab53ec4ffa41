package pickleload_test

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/container"
	"github.com/embedstream/embedstream/internal/pickleload"
)

// FuzzLoad feeds arbitrary bytes to Load. Seeds: every fixture, hostile
// and random-corpus file. Load must return (no panic, not even one its
// last-line recover() catches; no hang, no runaway memory: the fuzzer's
// own limits catch those) with either a bad-file error or a table that
// passes Validate and writes as canonical JSONL.
//
//	go test ./internal/pickleload -run '^$' -fuzz FuzzLoad -fuzztime 30s
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{fixturesDir, hostileDir, randomDir} {
		for _, name := range fixtureNames(f, dir) {
			f.Add(readFile(f, filepath.Join(dir, name+".pkl")))
		}
	}
	for _, seed := range formatsSeeds(f) {
		f.Add(seed)
	}
	// Keep each input's work small so the fuzzer explores instead of
	// decoding big seeds: limits scale with the input anyway.
	opts := pickleload.Options{MaxDecodedBytes: 64 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		tbl, err := pickleload.Load(data, opts)
		if err != nil {
			if pickleload.IsRecoveredPanic(err) {
				t.Fatalf("Load panicked (caught by its last-line recover): %v", err)
			}
			if !errors.Is(err, pickleload.ErrInvalid) {
				t.Fatalf("error %q is not ErrInvalid", err)
			}
			if tbl != nil {
				t.Fatalf("Load returned a table and the error %q", err)
			}
			return
		}
		if tbl == nil {
			t.Fatal("Load returned neither a table nor an error")
		}
		if err := tbl.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		if err := canonical.WriteTable(io.Discard, tbl); err != nil {
			t.Fatalf("canonical.WriteTable: %v", err)
		}
	})
}

// formatsPickles lists the pickles of formatsDir (joblib dumps, appended
// pickles, dicts keyed by id; not the containers, .npy or .npz files).
func formatsPickles(t testing.TB) []string {
	t.Helper()
	var paths []string
	for _, name := range formatFixtures(t) {
		p := filepath.Join(formatsDir, name)
		head := readFile(t, p)
		if f, err := container.Identify(head[:min(len(head), container.SniffLen)]); err == nil && (f == container.Pickle || f == container.Joblib) {
			paths = append(paths, p)
		}
	}
	return paths
}

// formatsSeeds are fuzz seeds for issue 13's shapes: formatsDir's
// pickles, and appended pickles made of fixtures (one after another, a
// pickle then a cut one, a pickle then zero bytes).
func formatsSeeds(t testing.TB) [][]byte {
	t.Helper()
	var seeds [][]byte
	for _, p := range formatsPickles(t) {
		if data := readFile(t, p); len(data) <= 64<<10 {
			seeds = append(seeds, data)
		}
	}
	a := readFile(t, filepath.Join(fixturesDir, "records_protocol4.pkl"))
	b := readFile(t, filepath.Join(fixturesDir, "df_protocol5.pkl"))
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	return append(seeds, cat(a, a), cat(b, b, b), cat(a, b), cat(a, a[:len(a)/2]), cat(b, make([]byte, 9)), cat(a, []byte("x")))
}
