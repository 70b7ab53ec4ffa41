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
// bounded: twice the rows do not take (nearly) twice the peak heap.
func TestLazyMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads ~450 MB")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(50)) // less garbage between collections: steadier peaks
	dir := t.TempDir()
	peak := map[int]uint64{}
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
		src, err := Open(data, Options{MemoryBudget: 32 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := src.(*lazySource); !ok {
			t.Fatalf("%d rows: not read lazily", rows)
		}
		if got := streamAll(t, src); got != rows {
			t.Fatalf("streamed %d rows, want %d", got, rows)
		}
		peak[rows] = stop()
		runtime.KeepAlive(src)
		t.Logf("%d rows (%d MiB): peak heap %d MiB, %d rows per window", rows, len(data)>>20, peak[rows]>>20, src.WindowRows())
	}
	if p1, p2 := peak[200_000], peak[400_000]; p2 > p1+p1/2 {
		t.Errorf("peak heap %d MiB for 400k rows, %d MiB for 200k: grows with the rows", p2>>20, p1>>20)
	}
}
