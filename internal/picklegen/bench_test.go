package picklegen_test

import (
	"fmt"
	"io"
	"testing"

	"github.com/embedstream/embedstream/internal/picklegen"
)

// BenchmarkWrite measures generation throughput (MB/s of pickle) of each
// shape at two embedding sizes, to io.Discard.
func BenchmarkWrite(b *testing.B) {
	for _, shape := range shapes {
		for _, dim := range []int{384, 1536} {
			spec := picklegen.Spec{Rows: 20000, Dim: dim, Seed: 1}
			b.Run(fmt.Sprintf("%v/rows=%d/dim=%d", shape, spec.Rows, dim), func(b *testing.B) {
				n, err := picklegen.Write(io.Discard, spec.Source(), shape)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(n)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := picklegen.Write(io.Discard, spec.Source(), shape); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkWriteJSONL measures the expected output (MB/s of JSONL).
func BenchmarkWriteJSONL(b *testing.B) {
	spec := picklegen.Spec{Rows: 5000, Dim: 384, Seed: 1}
	s, err := picklegen.Expect(spec.Source(), picklegen.Frame)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(s.Bytes)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := picklegen.Expect(spec.Source(), picklegen.Frame); err != nil {
			b.Fatal(err)
		}
	}
}
