package dataset_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/embedstream/embedstream/internal/dataset"
	"github.com/embedstream/embedstream/internal/picklegen"
	"github.com/embedstream/embedstream/internal/pickleload"
)

// TestTruncatedWhileMapped: a file of the data directory is mapped where
// it is; truncated by another writer while its dataset is held, reading
// its table or windows faults (SIGBUS), which every guarded reader turns
// into ErrFault, not a crash and not a bad file.
func TestTruncatedWhileMapped(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "eager.pkl", bigPickle(30000, "e"))
	writeFile(t, dir, "lazy.pkl", records(t, picklegen.Spec{Rows: 8000, Dim: 16, Seed: 3}))
	before := dataset.FaultCount()

	// a budget: files are mapped (without one they are read into buffers);
	// this one is decoded whole within it
	l := dataset.NewLoader(dataset.Config{DataDir: dir, Limits: dataset.Limits{MemoryBudget: 1 << 30}})
	d, st, err := l.Load(context.Background(), dataset.Ref{Name: "eager.pkl"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Lazy || l.PooledBuffers() != 0 {
		t.Fatalf("stats %+v, %d pooled buffers: want a mapped file decoded whole", st, l.PooledBuffers())
	}
	tbl, err := d.Table()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, "eager.pkl"), 0); err != nil {
		t.Fatal(err)
	}
	err = dataset.Guard(func() error {
		var n int
		for _, s := range tbl.Column("id").Strings { // aliases the mapping
			n += len(s) + int(s[len(s)-1])
		}
		t.Errorf("read %d bytes of a truncated file without a fault", n)
		return nil
	})
	if !errors.Is(err, dataset.ErrFault) || errors.Is(err, pickleload.ErrInvalid) {
		t.Fatalf("reading a truncated mapping: %v, want ErrFault (not a bad file)", err)
	}
	d.Release()

	lazy := dataset.NewLoader(dataset.Config{DataDir: dir, Limits: dataset.Limits{MemoryBudget: 1 << 20}})
	d, st, err = lazy.Load(context.Background(), dataset.Ref{Name: "lazy.pkl"})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Lazy {
		t.Fatalf("not read in windows: %+v", st)
	}
	if err := os.Truncate(filepath.Join(dir, "lazy.pkl"), 0); err != nil {
		t.Fatal(err)
	}
	err = dataset.Guard(func() error {
		_, err := d.Source().Window(4000, 4100, nil)
		return err
	})
	if !errors.Is(err, dataset.ErrFault) || errors.Is(err, pickleload.ErrInvalid) {
		t.Fatalf("a window of a truncated file: %v, want ErrFault", err)
	}
	d.Release()
	if dataset.FaultCount() == before {
		t.Error("FaultCount did not count the faults")
	}
}

// TestGuard: Guard turns a fault into ErrFault and lets other panics and
// errors through as they are; Fault ignores what is not a fault.
func TestGuard(t *testing.T) {
	want := errors.New("test: plain error")
	if err := dataset.Guard(func() error { return want }); err != want {
		t.Fatalf("Guard = %v, want fn's error", err)
	}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want the panic to go on", v)
			}
		}()
		_ = dataset.Guard(func() error { panic("boom") })
	}()
	if dataset.Fault("boom") != nil || dataset.Fault(errors.New("x")) != nil {
		t.Fatal("Fault of a non-fault value is not nil")
	}
	var m map[string]int
	func() {
		defer func() {
			if v := recover(); v == nil || dataset.Fault(v) != nil {
				t.Errorf("a nil map write (%v) taken for a fault", v)
			}
		}()
		m["x"] = 1 // a runtime.Error without an address
	}()
}

// TestHashIsOfTheStoredFile: the hash of a compressed file is of its
// compressed bytes, whether it comes from the data directory or the
// object store.
func TestHashIsOfTheStoredFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gz := gzipped(t, bigPickle(2000, "h"))
	writeFile(t, dir, "h.pkl", gz) // gzip under a plain .pkl name
	sum := sha256.Sum256(gz)
	l := dataset.NewLoader(dataset.Config{DataDir: dir, ScratchDir: t.TempDir(), Objects: objects{"h": gz}})
	for _, ref := range []dataset.Ref{{Name: "h.pkl"}, {Origin: dataset.InObjectStore, Name: "h"}} {
		d, st, err := l.Load(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		if st.SHA256 != hexOf(sum) || st.FileBytes != int64(len(gz)) || st.Format != "gzip-compressed pickle" || d.Rows() != 2000 {
			t.Errorf("%+v: stats %+v", ref, st)
		}
		d.Release()
	}
}

func hexOf(sum [sha256.Size]byte) string { return hex.EncodeToString(sum[:]) }
