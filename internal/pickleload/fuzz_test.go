package pickleload_test

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/embedstream/embedstream/internal/canonical"
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
