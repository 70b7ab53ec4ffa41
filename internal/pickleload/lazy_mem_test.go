package pickleload

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/embedstream/embedstream/internal/canonical"
)

// TestGeneratedFrameLazy: the generated DataFrame (the memory test's
// input) reads lazily to Load's table.
func TestGeneratedFrameLazy(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := genRecruitFrame(&buf, 2500, 5); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	want, err := Load(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wantJSON bytes.Buffer
	if err := canonical.WriteTable(&wantJSON, want); err != nil {
		t.Fatal(err)
	}
	for _, tune := range []lazyTuning{{minItems: 64, step: 16, windowRows: 300}, {minItems: 2, step: 3, windowRows: 7, passItems: 11}} {
		tune.force = true
		src, err := open(data, Options{}, tune)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := src.(*lazySource); !ok {
			t.Fatal("not read lazily")
		}
		var got bytes.Buffer
		for lo := 0; lo < src.Rows(); lo += tune.windowRows {
			w, err := src.Window(lo, min(src.Rows(), lo+tune.windowRows), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := canonical.WriteTable(&got, w); err != nil {
				t.Fatal(err)
			}
		}
		if fmt.Sprint(src.Schema()) != fmt.Sprint(want.Schema()) || !bytes.Equal(got.Bytes(), wantJSON.Bytes()) {
			t.Fatalf("%+v: lazy differs from Load: %v", tune, src.Schema())
		}
	}
}

// TestLazyMemoryBounded: reading a generated DataFrame of a few hundred MB
// lazily, Open and a streaming pass over all windows keep the Go heap
// bounded by the budget, whatever the rows: each peak stays under twice
// the 32 MiB budget (decoding the smaller file whole peaks at 114 MiB, the
// larger one at twice that). The peaks (21–35 MiB here) count garbage not yet collected, so
// they are compared with the bound, not with each other: a ratio of two
// such figures flaked under load.
func TestLazyMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads ~450 MB")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(50)) // less garbage between collections: steadier peaks
	const budget = 32 << 20
	dir := t.TempDir()
	for _, rows := range []int{200_000, 400_000} {
		path := filepath.Join(dir, fmt.Sprintf("frame_%d.pkl", rows))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := genRecruitFrame(f, rows, 96); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		data := mmapFile(t, path)
		runtime.GC()
		stop := heapPeak()
		src, err := Open(data, Options{MemoryBudget: budget})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := src.(*lazySource); !ok {
			t.Fatalf("%d rows: not read lazily", rows)
		}
		if got := streamAll(t, src); got != rows {
			t.Fatalf("streamed %d rows, want %d", got, rows)
		}
		peak := stop()
		runtime.KeepAlive(src)
		t.Logf("%d rows (%d MiB): peak heap %d MiB, %d rows per window", rows, len(data)>>20, peak>>20, src.WindowRows())
		if peak > 2*budget {
			t.Errorf("%d rows (%d MiB): peak heap %d MiB, over twice the %d MiB budget", rows, len(data)>>20, peak>>20, budget>>20)
		}
	}
}
