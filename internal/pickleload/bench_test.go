package pickleload

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

// Benchmarks: MB/s (SetBytes), rows/s, allocation and peak heap per load.
//
//	go test -run '^$' -bench . -benchmem ./internal/pickleload
//	EMBEDSTREAM_BENCH_DIR=/path go test -run '^$' -bench File -benchtime 3x ./internal/pickleload
//
// The generated inputs are written here in Go (protocol 4/5 opcodes); the
// File benchmarks load recruit_df.pkl, recruit_records.pkl and
// embeddings.pkl from EMBEDSTREAM_BENCH_DIR (the issue-7 generator's
// files) and are skipped without it.

// genNdarray writes a protocol-5 pickle of a rows x dim float32 ndarray,
// the way numpy does (_frombuffer over a BYTEARRAY8).
func genNdarray(rows, dim int) []byte {
	var b []byte
	b = append(b, 0x80, 5)
	b = append(b, shortStr("numpy.core.numeric")...)
	b = append(b, shortStr("_frombuffer")...)
	b = append(b, 0x93, '(', 0x96)
	b = binary.LittleEndian.AppendUint64(b, uint64(rows*dim*4))
	for i := range rows * dim {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(i%1000)/1000))
	}
	b = append(b, shortStr("numpy")...)
	b = append(b, shortStr("dtype")...)
	b = append(b, 0x93)
	b = append(b, shortStr("f4")...)
	b = append(b, 0x89, 0x88, 0x87, 'R', '(', 'K', 3)
	b = append(b, shortStr("<")...)
	b = append(b, "NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"...)
	b = append(b, 'J')
	b = binary.LittleEndian.AppendUint32(b, uint32(rows))
	b = append(b, 'J')
	b = binary.LittleEndian.AppendUint32(b, uint32(dim))
	b = append(b, 0x86)
	b = append(b, shortStr("C")...)
	b = append(b, "tR."...)
	return b
}

// genRecords writes a protocol-4 list of rows dicts shaped like the recruit
// data: id, title, description (~400 chars), skills (4 str), location,
// salary, and a dim-float embedding list; with memoization as CPython does.
func genRecords(rows, dim int) []byte {
	var b []byte
	memo := 0
	put := func() { b = append(b, 0x94); memo++ }
	b = append(b, 0x80, 4, ']')
	put()
	desc := ""
	for len(desc) < 400 {
		desc += "backend engineer 서울 platform data "
	}
	keys := []string{"id", "title", "description", "skills", "location", "salary", "embedding"}
	keyMemo := make([]int, len(keys))
	for r := range rows {
		if r%1000 == 0 {
			if r > 0 {
				b = append(b, 'e')
			}
			b = append(b, '(')
		}
		b = append(b, '}')
		put()
		b = append(b, '(')
		for k, key := range keys {
			if r == 0 {
				b = append(b, shortStr(key)...)
				keyMemo[k] = memo
				put()
			} else {
				b = append(b, 'h', byte(keyMemo[k]))
			}
			switch key {
			case "id", "salary":
				b = append(b, 'J')
				b = binary.LittleEndian.AppendUint32(b, uint32(r*7))
			case "title":
				b = append(b, shortStr(fmt.Sprintf("senior engineer %d", r))...)
				put()
			case "description":
				b = append(b, 'X')
				b = binary.LittleEndian.AppendUint32(b, uint32(len(desc)))
				b = append(b, desc...)
				put()
			case "skills":
				b = append(b, ']')
				put()
				b = append(b, '(')
				for _, s := range []string{"go", "python", "sql", "k8s"} {
					b = append(b, shortStr(s)...)
					put()
				}
				b = append(b, 'e')
			case "location":
				b = append(b, shortStr("Seoul")...)
				put()
			case "embedding":
				b = append(b, ']')
				put()
				b = append(b, '(')
				for j := range dim {
					b = append(b, 'G')
					b = binary.BigEndian.AppendUint64(b, math.Float64bits(float64(j%100)/100))
				}
				b = append(b, 'e')
			}
		}
		b = append(b, 'u')
	}
	if rows > 0 {
		b = append(b, 'e')
	}
	b = append(b, '.')
	return b
}

// benchLoad measures Load on data: MB/s, rows/s, bytes allocated per
// load relative to the input (garbage included), and the peak live heap
// during a load relative to the input, input included (sampled every
// millisecond from runtime/metrics; the issue-7 target is <= 2 for
// DataFrame and ndarray files).
func benchLoad(b *testing.B, data []byte) {
	b.Helper()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var rows int
	var alloc, peak uint64
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		stop := make(chan struct{})
		done := make(chan uint64)
		go func() {
			var max uint64
			s := []metrics.Sample{{Name: sample[0].Name}}
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				metrics.Read(s)
				max = maxU(max, s[0].Value.Uint64())
				select {
				case <-stop:
					done <- max
					return
				case <-tick.C:
				}
			}
		}()
		b.StartTimer()
		t, err := Load(data, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		close(stop)
		peak = maxU(peak, <-done)
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		alloc = maxU(alloc, after.TotalAlloc-before.TotalAlloc)
		rows = t.NumRows
		runtime.KeepAlive(t)
		b.StartTimer()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(alloc)/float64(len(data)), "alloc/filesize")
	b.ReportMetric(float64(peak)/float64(len(data)), "peakheap/filesize")
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

func BenchmarkNdarray(b *testing.B) {
	for _, rows := range []int{1000, 20000} {
		b.Run(fmt.Sprintf("rows=%d/dim=768", rows), func(b *testing.B) {
			benchLoad(b, genNdarray(rows, 768))
		})
	}
}

func BenchmarkRecords(b *testing.B) {
	for _, rows := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("rows=%d/dim=384", rows), func(b *testing.B) {
			benchLoad(b, genRecords(rows, 384))
		})
	}
}

func BenchmarkFile(b *testing.B) {
	dir := os.Getenv("EMBEDSTREAM_BENCH_DIR")
	for _, name := range []string{"recruit_df.pkl", "recruit_records.pkl", "embeddings.pkl"} {
		b.Run(name, func(b *testing.B) {
			if dir == "" {
				b.Skip("EMBEDSTREAM_BENCH_DIR not set")
			}
			data, err := ReadFile(filepath.Join(dir, name))
			if err != nil {
				b.Skip(err)
			}
			benchLoad(b, data)
		})
	}
}
