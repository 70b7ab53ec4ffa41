package picklegen_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/embedstream/embedstream/internal/picklegen"
	"github.com/embedstream/embedstream/internal/pickleload"
)

// TestSameBytesAsPandas rewrites pickles that pandas 1.5.3 and CPython
// wrote (committed, made by internal/pickleload/testdata/generate.py) from
// their own rows, as loaded by pickleload, and requires the very same
// bytes: object layout, memo (shared pool strings, dtypes, globals) and
// framing all as CPython's pickler writes them.
func TestSameBytesAsPandas(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file  string
		shape picklegen.Shape
	}{
		// recruit_frame(3000, 384, seed=2024).to_pickle(protocol=5): 6 MB, 92 frames.
		{"../../data/processed_recruitment_data.pkl", picklegen.Frame},
		// pickle.dumps(recruit_records(recruit_frame(50, 384, seed=11)), protocol=4).
		{"../pickleload/testdata/fixtures/recruit_small_records.pkl", picklegen.Records},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			t.Parallel()
			want, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			tbl, err := pickleload.Load(want, pickleload.Options{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			src, err := picklegen.FromTable(tbl)
			if err != nil {
				t.Fatalf("FromTable: %v", err)
			}
			var got bytes.Buffer
			n, err := picklegen.Write(&got, src, tc.shape)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if n != int64(got.Len()) {
				t.Errorf("Write returned %d, wrote %d bytes", n, got.Len())
			}
			if err := sameBytes(got.Bytes(), want); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// sameBytes reports where two pickles first differ, with the bytes around.
func sameBytes(got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(0, i-48)
	return fmt.Errorf("pickles differ at byte %d (got %d bytes, want %d):\n got  % x\n want % x",
		i, len(got), len(want), got[lo:min(len(got), i+32)], want[lo:min(len(want), i+32)])
}
