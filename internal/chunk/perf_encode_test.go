package chunk

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/embedstream/embedstream/internal/pickleload"
	"github.com/embedstream/embedstream/internal/sink"
	"github.com/embedstream/embedstream/internal/table"
)

// TestEncodeTrustsValidUTF8 checks that a column marked ValidUTF8 encodes
// byte for byte as an unmarked one, and that only unmarked columns are
// checked.
func TestEncodeTrustsValidUTF8(t *testing.T) {
	t.Parallel()
	mk := func(s string, valid bool) *table.Table {
		return &table.Table{NumRows: 2, Columns: []*table.Column{
			{Field: table.Field{Name: "s", Type: table.TypeString}, Strings: []string{s, "정상"}, ValidUTF8: valid},
			{Field: table.Field{Name: "l", Type: table.TypeStringList}, StringLists: [][]string{{s}, {"b"}}, ValidUTF8: valid},
		}}
	}
	checked, err := appendChunk(nil, mk("héllo", false), 0, 2, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := appendChunk(nil, mk("héllo", true), 0, 2, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(checked, trusted) {
		t.Fatal("a ValidUTF8 column encodes differently")
	}
	if _, err := appendChunk(nil, mk("bad \xff", false), 0, 2, 1, 0); !errors.Is(err, sink.ErrRejected) {
		t.Fatalf("unmarked invalid UTF-8: got %v, want ErrRejected", err)
	}
}

// BenchmarkEncodeDataFrame encodes every row of the benchmark DataFrame
// (deploy/bench/run generates it; EMBENCH_DF names another file) in chunks
// of 500 rows, with the loader's ValidUTF8 marks and without them.
func BenchmarkEncodeDataFrame(b *testing.B) {
	path := os.Getenv("EMBENCH_DF")
	if path == "" {
		path = "../../deploy/bench/scratch/data/recruit_df_100000_d384.pkl"
	}
	if _, err := os.Stat(path); err != nil {
		b.Skipf("no benchmark DataFrame: %v", err)
	}
	tb, err := pickleload.LoadFile(path, pickleload.Options{})
	if err != nil {
		b.Fatal(err)
	}
	const rows = 500
	var buf []byte
	for _, trusted := range []bool{false, true} {
		name := "checked"
		if trusted {
			name = "trusted"
		}
		for _, c := range tb.Columns {
			c.ValidUTF8 = trusted
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				total := 0
				for lo := 0; lo < tb.NumRows; lo += rows {
					hi := min(lo+rows, tb.NumRows)
					if buf, err = appendChunk(buf[:0], tb, lo, hi, uint64(lo/rows), uint64(lo)); err != nil {
						b.Fatal(err)
					}
					total += len(buf)
				}
				b.SetBytes(int64(total))
			}
		})
	}
}
