//go:build unix

package source_test

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/embedstream/embedstream/internal/source"
)

// A FIFO in the data directory is refused at once: opening it for reading
// would block until a writer came.
func TestOpenFileRefusesFIFO(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.pkl"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		f, err := source.OpenFile(dir, "pipe.pkl")
		if err == nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, source.ErrUnsafePath) {
			t.Fatalf("OpenFile(fifo) = %v, want ErrUnsafePath", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("OpenFile blocked on a FIFO")
	}
	if _, err := source.ResolveFile(dir, "pipe.pkl"); !errors.Is(err, source.ErrUnsafePath) {
		t.Fatalf("ResolveFile(fifo) = %v, want ErrUnsafePath", err)
	}
}
