package dataset

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/embedstream/embedstream/internal/pickleload"
)

// spoolBytes spools r with l and returns a copy of the mapped bytes.
func spoolBytes(t *testing.T, l *Loader, r io.Reader, size int64) ([]byte, error) {
	t.Helper()
	var st Stats
	in, err := l.spool(context.Background(), r, size, &st)
	if err != nil {
		return nil, err
	}
	defer in.close()
	if st.FileBytes != int64(len(in.data)) || in.digest == "" {
		t.Fatalf("spooled %d bytes, stats say %d, digest %q", len(in.data), st.FileBytes, in.digest)
	}
	return bytes.Clone(in.data), nil
}

// TestSpoolSeesAChangingObject: an object whose length differs from what
// the store announced (being written or replaced) is io.ErrUnexpectedEOF
// (a transient I/O error to the worker), not a truncated pickle that
// would be dead-lettered; more than MaxFileBytes is ErrTooLarge, however
// the bytes come.
func TestSpoolSeesAChangingObject(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	payload := bytes.Repeat([]byte{0x80, 0x04}, 300_000)
	l := NewLoader(Config{ScratchDir: dir, Limits: Limits{MaxFileBytes: 1 << 20}})
	for _, size := range []int64{int64(len(payload)) + 100, int64(len(payload)) - 100} {
		_, err := spoolBytes(t, l, bytes.NewReader(payload), size)
		if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrTooLarge) {
			t.Fatalf("size %d: err = %v, want io.ErrUnexpectedEOF", size, err)
		}
	}
	for _, size := range []int64{int64(len(payload)), -1} {
		got, err := spoolBytes(t, l, iotest.HalfReader(bytes.NewReader(payload)), size)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("size %d: %d bytes, %v", size, len(got), err)
		}
	}
	big := bytes.Repeat([]byte("x"), 1<<20+1)
	for _, size := range []int64{-1, 10} { // unknown, or announced smaller
		if _, err := spoolBytes(t, l, iotest.HalfReader(bytes.NewReader(big)), size); !errors.Is(err, ErrTooLarge) {
			t.Errorf("over the limit, size %d: %v", size, err)
		}
	}
	if _, err := spoolBytes(t, l, iotest.ErrReader(errors.New("disk on fire")), -1); err == nil || errors.Is(err, ErrTooLarge) {
		t.Errorf("read error: %v", err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("test: stopped")
	cancel(stop)
	if _, err := l.spool(ctx, strings.NewReader("abc"), 3, &Stats{}); !errors.Is(err, stop) {
		t.Errorf("ended context: %v", err)
	}
	// Every scratch file was unlinked at once: nothing is left, whatever
	// happened.
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("scratch directory holds %v (%v)", entries, err)
	}
}

func TestPickleOptionsFollowLimits(t *testing.T) {
	o := Limits{PickleDecodedFactor: 3, PickleMaxDepth: 64, MemoryBudget: 5 << 20}.pickleOptions(1000)
	if o.MaxDecodedBytes != 3000+pickleload.DefaultDecodedSlack || o.MaxDepth != 64 || o.MemoryBudget != 5<<20 {
		t.Fatalf("options = %+v", o)
	}
	if o := (Limits{}).pickleOptions(1000); o != (pickleload.Options{}) {
		t.Fatalf("zero limits give %+v, want the loader's defaults", o)
	}
}
