package pickleload_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embedstream/embedstream/internal/canonical"
	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/table"
)

// FuzzNPY feeds arbitrary bytes to LoadNPY and LoadNPZ. Seeds: every .npy
// and .npz file of the formats corpus. Both must return (no panic, not
// even one their last-line recover() catches) a bad-file error or a table
// that passes Validate and writes as canonical JSONL.
//
//	go test ./internal/pickleload -run '^$' -fuzz FuzzNPY -fuzztime 30s
func FuzzNPY(f *testing.F) {
	ents, err := os.ReadDir(formatsDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".npy") || strings.HasSuffix(n, ".npz") {
			b, err := os.ReadFile(filepath.Join(formatsDir, n))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	opts := pickleload.Options{MaxDecodedBytes: 64 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		tbl, err := pickleload.LoadNPY(data, opts)
		checkFuzzResult(t, "LoadNPY", tbl, err)
		tbl, err = pickleload.LoadNPZ(data, pickleload.NPZOptions{Options: opts, MaxBytes: 16 << 20})
		checkFuzzResult(t, "LoadNPZ", tbl, err)
	})
}

func checkFuzzResult(t *testing.T, what string, tbl *table.Table, err error) {
	t.Helper()
	if err != nil {
		if pickleload.IsRecoveredPanic(err) {
			t.Fatalf("%s panicked (caught by its last-line recover): %v", what, err)
		}
		if !errors.Is(err, pickleload.ErrInvalid) {
			t.Fatalf("%s: error %q is not ErrInvalid", what, err)
		}
		if tbl != nil {
			t.Fatalf("%s returned a table and the error %q", what, err)
		}
		return
	}
	if tbl == nil {
		t.Fatalf("%s returned neither a table nor an error", what)
	}
	if err := tbl.Validate(); err != nil {
		t.Fatalf("%s: Validate: %v", what, err)
	}
	if err := canonical.WriteTable(io.Discard, tbl); err != nil {
		t.Fatalf("%s: canonical.WriteTable: %v", what, err)
	}
}
