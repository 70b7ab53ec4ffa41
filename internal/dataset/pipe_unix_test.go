//go:build unix

package dataset_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/embedstream/embedstream/internal/dataset"
)

// TestLoadFromAPipe: a path that is not a regular file (a named pipe,
// process substitution in publisher inspect) cannot be mapped: it is
// spooled to a scratch file first, and read as a file would be.
func TestLoadFromAPipe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "in.pkl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	data := gzipped(t, bigPickle(5000, "p"))
	go func() {
		if err := os.WriteFile(fifo, data, 0o600); err != nil {
			t.Error(err)
		}
	}()
	scratch := t.TempDir()
	l := dataset.NewLoader(dataset.Config{ScratchDir: scratch})
	d, st, err := l.Load(context.Background(), dataset.Ref{Origin: dataset.AtPath, Name: fifo})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	if d.Rows() != 5000 || st.FileBytes != int64(len(data)) || st.Format != "gzip-compressed pickle" {
		t.Fatalf("%d rows, stats %+v", d.Rows(), st)
	}
	if ents, _ := os.ReadDir(scratch); len(ents) != 0 {
		t.Fatalf("scratch files visible: %v", ents)
	}
}
