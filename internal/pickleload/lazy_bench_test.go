package pickleload

import (
	"github.com/embedstream/embedstream/internal/table"

	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/canonical"
)

// warm reads a byte of every page of data.
func warm(data []byte) {
	var x byte
	for i := 0; i < len(data); i += 4096 {
		x += data[i]
	}
	runtime.KeepAlive(x)
}

// heapPeak samples the heap's objects every millisecond until stop is
// called, which returns the peak.
func heapPeak() (stop func() uint64) {
	stopBoth := memPeaks()
	return func() uint64 { h, _ := stopBoth(); return h }
}

// memPeaks samples the heap's objects every millisecond and the process's
// anonymous resident memory (RssAnon: the heap, stacks and runtime, not
// the mapped input) every 10 ms until stop is called, which returns both
// peaks.
func memPeaks() (stop func() (heap, anon uint64)) {
	runtime.GC()
	done := make(chan struct{})
	out := make(chan [2]uint64)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak [2]uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			metrics.Read(s)
			peak[0] = max(peak[0], s[0].Value.Uint64())
			if n%10 == 0 {
				peak[1] = max(peak[1], rssAnon())
			}
			select {
			case <-done:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() (uint64, uint64) { close(done); p := <-out; return p[0], p[1] }
}

// rssAnon returns the process's RssAnon (0 where /proc is not there).
func rssAnon() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssAnon:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// streamAll reads every window of src, in order.
func streamAll(t testing.TB, src table.Source) int {
	t.Helper()
	n := src.WindowRows()
	if n <= 0 {
		n = src.Rows() + 1
	}
	rows := 0
	for lo := 0; lo < src.Rows(); lo += n {
		w, err := src.Window(lo, min(src.Rows(), lo+n), nil)
		if err != nil {
			t.Fatalf("Window(%d): %v", lo, err)
		}
		rows += w.NumRows
	}
	return rows
}

// TestBenchFilesLazy reports what the lazy path takes on the bench files
// (EMBEDSTREAM_BENCH_DIR): the time of each phase and the peak heap of
// Open plus a streaming pass, against Load's. No assertion beyond the
// row counts.
func TestBenchFilesLazy(t *testing.T) {
	dir := os.Getenv("EMBEDSTREAM_BENCH_DIR")
	if dir == "" {
		t.Skip("EMBEDSTREAM_BENCH_DIR not set")
	}
	for _, name := range []string{"recruit_df_100000_d384.pkl", "recruit_records_100000_d384.pkl", "ndarray_100000_d768.pkl"} {
		t.Run(name, func(t *testing.T) {
			data := mmapFile(t, filepath.Join(dir, name))
			warm(data) // both paths then read from the page cache
			debug.FreeOSMemory()
			stop := memPeaks()
			start := time.Now()
			tune := defaultTuning()
			tune.force = true // the 100k files fit the budget: force the lazy path to measure it
			src, err := open(data, Options{MemoryBudget: 256 << 20}, tune)
			if err != nil {
				t.Fatal(err)
			}
			open := time.Since(start)
			start = time.Now()
			rows := streamAll(t, src)
			stream := time.Since(start)
			peak, anon := stop()
			if rows != src.Rows() {
				t.Fatalf("streamed %d rows of %d", rows, src.Rows())
			}
			var times lazyTimes
			l, lazy := src.(*lazySource)
			if lazy {
				times = l.f.times
			}
			window := src.WindowRows()
			runtime.KeepAlive(src)
			src, l = nil, nil
			debug.FreeOSMemory()
			stop = memPeaks()
			start = time.Now()
			tbl, err := Load(data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			eager := time.Since(start)
			epeak, eanon := stop()
			runtime.KeepAlive(tbl)
			t.Logf("%s: %d rows; lazy (%v, window %d rows): open %v (index %v, skeleton %v, pass C %v), streaming pass %v, peak heap %d MiB, peak RssAnon %d MiB; Load %v, peak heap %d MiB, peak RssAnon %d MiB",
				name, rows, lazy, window, open, times.index, times.skeleton, times.passC, stream, peak>>20, anon>>20, eager, epeak>>20, eanon>>20)
		})
	}
}

// TestBenchFilesLazyEqual checks the lazy windows of the bench files
// against Load's table, window by window (EMBEDSTREAM_BENCH_DIR).
func TestBenchFilesLazyEqual(t *testing.T) {
	dir := os.Getenv("EMBEDSTREAM_BENCH_DIR")
	if dir == "" {
		t.Skip("EMBEDSTREAM_BENCH_DIR not set")
	}
	for _, name := range []string{"recruit_df_100000_d384.pkl", "recruit_records_100000_d384.pkl", "ndarray_100000_d768.pkl", "recruit_df_10_d384.pkl"} {
		t.Run(name, func(t *testing.T) {
			data := mmapFile(t, filepath.Join(dir, name))
			tune := defaultTuning()
			tune.force = true
			src, err := open(data, Options{MemoryBudget: 256 << 20}, tune)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := src.(*lazySource); !ok {
				t.Fatalf("not read lazily")
			}
			want, err := Load(data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if g, w := fmt.Sprint(src.Schema()), fmt.Sprint(want.Schema()); g != w || src.Rows() != want.NumRows {
				t.Fatalf("schema %s rows %d, want %s rows %d", g, src.Rows(), w, want.NumRows)
			}
			n := max(1, src.WindowRows())
			for lo := 0; lo < src.Rows(); lo += n {
				hi := min(src.Rows(), lo+n)
				w, err := src.Window(lo, hi, nil)
				if err != nil {
					t.Fatal(err)
				}
				var a, b bytes.Buffer
				if err := canonical.WriteTable(&a, w); err != nil {
					t.Fatal(err)
				}
				if err := canonical.WriteTable(&b, want.Slice(lo, hi)); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a.Bytes(), b.Bytes()) {
					t.Fatalf("rows [%d, %d) differ", lo, hi)
				}
			}
		})
	}
}

// benchLazy measures Open (the lazy path forced, budget as the worker's
// 256 MiB) and a streaming pass over all windows: MB/s, rows/s and the
// peak heap relative to the input (which is not in the heap when mapped).
func benchLazy(b *testing.B, data []byte) {
	b.Helper()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	tune := defaultTuning()
	tune.force = true
	var rows int
	var peak uint64
	for b.Loop() {
		b.StopTimer()
		stop := heapPeak()
		b.StartTimer()
		src, err := open(data, Options{MemoryBudget: 256 << 20}, tune)
		if err != nil {
			b.Fatal(err)
		}
		rows = streamAll(b, src)
		b.StopTimer()
		peak = max(peak, stop())
		runtime.KeepAlive(src)
		b.StartTimer()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peak)/float64(len(data)), "peakheap/filesize")
}

func BenchmarkLazyFrame(b *testing.B) {
	var buf bytes.Buffer
	if err := genRecruitFrame(&buf, 20_000, 384); err != nil {
		b.Fatal(err)
	}
	b.Run("rows=20000/dim=384", func(b *testing.B) { benchLazy(b, buf.Bytes()) })
}

func BenchmarkLazyRecords(b *testing.B) {
	b.Run("rows=10000/dim=384", func(b *testing.B) { benchLazy(b, genRecords(10_000, 384)) })
}

// BenchmarkLazyFile: the lazy path on the issue-14 bench files
// (deploy/bench/gen.py into EMBEDSTREAM_BENCH_DIR); compare with
// BenchmarkLoadFile.
func BenchmarkLazyFile(b *testing.B) {
	for _, name := range benchFiles {
		b.Run(name, func(b *testing.B) { benchLazy(b, benchFile(b, name)) })
	}
}

// BenchmarkLoadFile: Load on the same files.
func BenchmarkLoadFile(b *testing.B) {
	for _, name := range benchFiles {
		b.Run(name, func(b *testing.B) { benchLoad(b, benchFile(b, name)) })
	}
}

var benchFiles = []string{"recruit_df_100000_d384.pkl", "recruit_records_100000_d384.pkl", "ndarray_100000_d768.pkl"}

func benchFile(b *testing.B, name string) []byte {
	dir := os.Getenv("EMBEDSTREAM_BENCH_DIR")
	if dir == "" {
		b.Skip("EMBEDSTREAM_BENCH_DIR not set")
	}
	return mmapFile(b, filepath.Join(dir, name))
}
